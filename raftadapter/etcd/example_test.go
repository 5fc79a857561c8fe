package etcd_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"os"

	"github.com/spoolhq/spool/raftadapter/etcd"
	"github.com/spoolhq/spool/raftadapter/etcdwire"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A single-node raft group on spool storage, driven through RawNode: every
// Ready is persisted with SaveReady, committed entries are applied, and the
// node restarts from disk with nothing to replay.
func Example() {
	dir, _ := os.MkdirTemp("", "spool-etcd-example-")
	defer os.RemoveAll(dir)
	raft.SetLogger(&raft.DefaultLogger{Logger: log.New(bytes.NewBuffer(nil), "", 0)})

	st, err := etcd.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	rn, err := raft.NewRawNode(&raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1,
		Storage: st, MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256})
	if err != nil {
		log.Fatal(err)
	}
	_ = rn.Bootstrap([]raft.Peer{{ID: 1}})
	drain := func() {
		for rn.HasReady() {
			rd := rn.Ready()
			if err := st.SaveReady(rd); err != nil { // entries, hard state: one sync
				log.Fatal(err)
			}
			for _, e := range rd.CommittedEntries {
				switch e.GetType() {
				case pb.EntryConfChange:
					var cc pb.ConfChange
					_ = proto.Unmarshal(e.Data, &cc)
					rn.ApplyConfChange(&cc)
				case pb.EntryNormal:
					if len(e.Data) > 0 {
						fmt.Printf("applied %d: %s\n", e.GetIndex(), e.Data)
					}
				}
			}
			rn.Advance(rd)
		}
	}
	drain()
	_ = rn.Campaign()
	drain()
	for _, cmd := range []string{"x=1", "y=2"} {
		_ = rn.Propose([]byte(cmd))
	}
	drain()
	last, _ := st.LastIndex()
	_ = st.Close()

	// Restart: Open reads no entry; raft finds them in the journal.
	st, err = etcd.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	hs, _, _ := st.InitialState()
	ents, _ := st.Entries(last-1, last+1, math.MaxUint64)
	fmt.Printf("after restart: last %d, commit %d, %s %s\n", last, hs.GetCommit(), ents[0].Data, ents[1].Data)
	// Output:
	// applied 3: x=1
	// applied 4: y=2
	// after restart: last 4, commit 4, x=1 y=2
}

// The etcdwire Writer sends raft messages as frames identical to
// proto.Marshal's, taking zero-copy entries' payloads from the mapped pages
// and releasing their pins once written (the Storage is its Releaser); the
// etcdwire Reader decodes them for Node.Step.
func Example_sendFromMappedPages() {
	dir, _ := os.MkdirTemp("", "spool-etcd-example-")
	defer os.RemoveAll(dir)
	st, err := etcd.Open(dir, &etcd.Options{ZeroCopy: true})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	var ents []*pb.Entry
	for i := uint64(1); i <= 3; i++ {
		ents = append(ents, &pb.Entry{Index: new(i), Term: new(uint64(1)), Data: fmt.Appendf(nil, "cmd-%d", i)})
	}
	if err := st.Append(ents); err != nil {
		log.Fatal(err)
	}

	// Leader side: Data points into the journal's mapped pages, pinned
	// until the message is written.
	out, _ := st.Entries(1, 4, math.MaxUint64)
	m := &pb.Message{Type: pb.MsgApp.Enum(), From: new(uint64(1)), To: new(uint64(2)), Term: new(uint64(1)),
		Index: new(uint64(0)), LogTerm: new(uint64(0)), Commit: new(uint64(3)), Entries: out}
	var conn bytes.Buffer // a net.Conn in real use: a vectored write (writev) per message
	w := etcdwire.NewWriter(&conn, st)
	if err := w.WriteMessage(m); err != nil { // releases the pins
		log.Fatal(err)
	}
	pinned, _ := st.PinStats()
	fmt.Println("pinned after the write:", pinned, "payload bytes by reference:", w.Stats().ReferenceBytes)

	// Follower side: decode for Node.Step.
	got, err := etcdwire.NewReader(&conn).ReadMessage()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(got.GetType(), len(got.Entries), string(got.Entries[2].Data))
	// Output:
	// pinned after the write: 0 payload bytes by reference: 15
	// MsgApp 3 cmd-3
}

// EntriesPinned reads entries zero-copy with an explicit lifetime.
func ExampleStorage_EntriesPinned() {
	dir, _ := os.MkdirTemp("", "spool-etcd-example-")
	defer os.RemoveAll(dir)
	st, err := etcd.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	_ = st.Append([]*pb.Entry{{Index: new(uint64(1)), Term: new(uint64(1)), Data: []byte("hello")}})

	ents, pins, err := st.EntriesPinned(1, 2, math.MaxUint64)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (pinned %d)\n", ents[0].Data, pins.Len()) // valid until Release
	pins.Release()
	// Output: hello (pinned 1)
}

// Compaction and snapshots keep MemoryStorage's calls.
func ExampleStorage_Compact() {
	dir, _ := os.MkdirTemp("", "spool-etcd-example-")
	defer os.RemoveAll(dir)
	st, err := etcd.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	for i := uint64(1); i <= 10; i++ {
		_ = st.Append([]*pb.Entry{{Index: new(i), Term: new(uint64(2))}})
	}
	cs := &pb.ConfState{Voters: []uint64{1, 2, 3}}
	if _, err := st.CreateSnapshot(8, cs, []byte("state machine at 8")); err != nil {
		log.Fatal(err)
	}
	if err := st.Compact(6); err != nil {
		log.Fatal(err)
	}
	first, _ := st.FirstIndex()
	term, _ := st.Term(first - 1)
	_, err = st.Entries(5, 7, math.MaxUint64)
	snap, _ := st.Snapshot()
	fmt.Println(first, term, err == raft.ErrCompacted, snap.GetMetadata().GetIndex(), string(snap.Data))
	// Output: 7 2 true 8 state machine at 8
}

// Open is the whole start-up: no WAL replay. A new directory is Empty, so
// the node is started with its peers; afterwards it is restarted from
// what the Storage holds, with the state machine restored from the
// snapshot.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "spool-etcd-example-")
	defer os.RemoveAll(dir)
	raft.SetLogger(&raft.DefaultLogger{Logger: log.New(bytes.NewBuffer(nil), "", 0)})
	for run := 1; run <= 2; run++ {
		st, err := etcd.Open(dir, nil)
		if err != nil {
			log.Fatal(err)
		}
		snap, err := st.Snapshot() // restore the state machine from snap.Data
		if err != nil {
			log.Fatal(err)
		}
		cfg := &raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: st,
			Applied: snap.GetMetadata().GetIndex(), MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256}
		rn, err := raft.NewRawNode(cfg)
		if err != nil {
			log.Fatal(err)
		}
		if st.Empty() {
			fmt.Printf("run %d: empty storage, bootstrapping\n", run)
			_ = rn.Bootstrap([]raft.Peer{{ID: 1}}) // raft.StartNode with a raft.Node
		} else {
			hs, cs, _ := st.InitialState()
			fmt.Printf("run %d: restarting at term %d, commit %d, voters %v\n", run, hs.GetTerm(), hs.GetCommit(), cs.Voters)
		}
		for rn.HasReady() {
			rd := rn.Ready()
			if err := st.SaveReady(rd); err != nil {
				log.Fatal(err)
			}
			for _, e := range rd.CommittedEntries {
				if e.GetType() == pb.EntryConfChange {
					var cc pb.ConfChange
					_ = proto.Unmarshal(e.Data, &cc)
					cs := rn.ApplyConfChange(&cc)
					if _, err := st.CreateSnapshot(e.GetIndex(), cs, nil); err != nil {
						log.Fatal(err)
					}
				}
			}
			rn.Advance(rd)
		}
		_ = st.Close()
	}
	// Output:
	// run 1: empty storage, bootstrapping
	// run 2: restarting at term 1, commit 1, voters [1]
}

// With Config.AsyncStorageWrites raft hands the writes to the application
// as MsgStorageAppend messages: HandleStorageAppend persists one and
// returns the responses to deliver afterwards. Apply-thread messages
// (MsgStorageApply) carry the committed entries; the Storage has nothing
// to do for them.
func ExampleStorage_HandleStorageAppend() {
	dir, _ := os.MkdirTemp("", "spool-etcd-example-")
	defer os.RemoveAll(dir)
	raft.SetLogger(&raft.DefaultLogger{Logger: log.New(bytes.NewBuffer(nil), "", 0)})
	st, err := etcd.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	rn, err := raft.NewRawNode(&raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: st,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, AsyncStorageWrites: true})
	if err != nil {
		log.Fatal(err)
	}
	_ = rn.Bootstrap([]raft.Peer{{ID: 1}})
	_ = rn.Campaign()
	proposed, applied := false, false
	for i := 0; i < 1000 && !applied; i++ {
		if !rn.HasReady() {
			rn.Tick()
			continue
		}
		rd := rn.Ready()
		for _, m := range rd.Messages {
			var resps []*pb.Message
			switch m.GetTo() {
			case raft.LocalAppendThread: // in real use, on the append goroutine
				if resps, err = st.HandleStorageAppend(m); err != nil {
					log.Fatal(err)
				}
			case raft.LocalApplyThread: // in real use, on the apply goroutine
				for _, e := range m.Entries {
					if e.GetType() == pb.EntryNormal && len(e.Data) > 0 {
						fmt.Printf("applied %d: %s\n", e.GetIndex(), e.Data)
						applied = true
					}
				}
				resps = m.Responses
			}
			for _, r := range resps {
				_ = rn.Step(r) // a real cluster sends those for peers to the network
			}
		}
		if !proposed && rn.BasicStatus().RaftState == raft.StateLeader {
			_ = rn.Propose([]byte("x=1"))
			proposed = true
		}
	}
	last, _ := st.LastIndex()
	fmt.Println("last index in the journal:", last)
	// Output:
	// applied 3: x=1
	// last index in the journal: 3
}

// A receiving loop: the etcdwire Reader decodes each frame from a peer's
// connection, with entry Data aliasing the frame's buffer, ready for
// Node.Step.
func Example_receiveLoop() {
	client, server := net.Pipe()
	go func() {
		w := etcdwire.NewWriter(client, nil)
		_ = w.WriteMessages([]*pb.Message{
			{Type: pb.MsgHeartbeat.Enum(), From: new(uint64(1)), To: new(uint64(2)), Term: new(uint64(3))},
			{Type: pb.MsgApp.Enum(), From: new(uint64(1)), To: new(uint64(2)), Term: new(uint64(3)),
				Entries: []*pb.Entry{{Index: new(uint64(7)), Term: new(uint64(3)), Data: []byte("x=1")}}},
		})
		_ = client.Close()
	}()
	r := etcdwire.NewReader(server)
	for {
		m, err := r.ReadMessage()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err) // wraps etcdwire.ErrFormat for a malformed frame
		}
		// In real use: node.Step(ctx, m), with a deadline for MsgProp.
		fmt.Println(m.GetType(), "from", m.GetFrom(), "entries", len(m.Entries))
	}
	// Output:
	// MsgHeartbeat from 1 entries 0
	// MsgApp from 1 entries 1
}
