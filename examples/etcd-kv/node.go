package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spoolhq/spool/raftadapter/etcd"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// kvNode is one member of the cluster: a raft.Node on spool storage, a KV
// state machine, and a TCP transport that writes messages with
// etcdwire.Writer (payloads straight from the journal's mapped pages).
type kvNode struct {
	id    uint64
	dir   string
	peers map[uint64]string // raft addresses
	ln    net.Listener

	st *etcd.Storage
	n  raft.Node

	mu       sync.Mutex
	kv       map[string]string
	applied  uint64
	cs       *pb.ConfState
	lastSnap uint64
	waiters  map[uint64]chan struct{}

	out     map[uint64]*peerQueue
	stop    chan struct{}
	wg      sync.WaitGroup
	conns   sync.Map // accepted connections, closed on stop
	nextReq atomic.Uint64
	openDur time.Duration
	snapsIn atomic.Int64 // snapshots received from the leader and installed
}

// command is a proposal: put Key=Val, acknowledged to the proposer by ID.
type command struct {
	ID  uint64 `json:"id"`
	Key string `json:"k"`
	Val string `json:"v"`
}

const (
	snapshotEvery = 2000 // applied entries between snapshots
	keepEntries   = 500  // entries kept behind a snapshot for slow followers
)

// startNode opens (or creates) the node's storage and starts it on ln.
func startNode(id uint64, dir string, peers map[uint64]string, ln net.Listener) (*kvNode, error) {
	nd := &kvNode{id: id, dir: dir, peers: peers, ln: ln, kv: map[string]string{},
		waiters: map[uint64]chan struct{}{}, out: map[uint64]*peerQueue{}, stop: make(chan struct{}), cs: &pb.ConfState{}}
	nd.nextReq.Store(uint64(time.Now().UnixNano()) << 8 >> 8 << 8)
	start := time.Now()
	st, err := etcd.Open(dir, &etcd.Options{ZeroCopy: true})
	if err != nil {
		return nil, err
	}
	nd.st = st
	// The state machine starts from the latest snapshot; raft hands the
	// committed entries after it to the Ready loop. Nothing is replayed.
	snap, err := st.Snapshot()
	if err != nil {
		return nil, err
	}
	if snap.GetMetadata().GetIndex() > 0 {
		if err := nd.restore(snap); err != nil {
			return nil, err
		}
	}
	// An election timeout of 1 s (50 ticks of 20 ms): a process that missed
	// a few ticks on a busy machine does not start an election.
	cfg := &raft.Config{ID: id, ElectionTick: 50, HeartbeatTick: 1, Storage: st, Applied: nd.applied,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, CheckQuorum: true, PreVote: true}
	if st.Empty() {
		var rp []raft.Peer
		for pid := range peers {
			rp = append(rp, raft.Peer{ID: pid})
		}
		nd.n = raft.StartNode(cfg, rp)
	} else {
		nd.n = raft.RestartNode(cfg)
	}
	nd.openDur = time.Since(start)
	for pid, addr := range peers {
		if pid != id {
			q := newPeerQueue(nd, pid, addr)
			nd.out[pid] = q
			nd.wg.Go(q.run)
		}
	}
	nd.wg.Go(nd.accept)
	nd.wg.Go(nd.run)
	return nd, nil
}

// close stops the node and closes its storage.
func (nd *kvNode) close() {
	close(nd.stop)
	_ = nd.ln.Close()
	nd.conns.Range(func(k, _ any) bool { _ = k.(net.Conn).Close(); return true })
	for _, q := range nd.out {
		q.close()
	}
	nd.wg.Wait()
	nd.n.Stop()
	if err := nd.st.Close(); err != nil {
		log.Printf("node %d: close storage: %v", nd.id, err)
	}
}

func (nd *kvNode) run() {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-nd.stop:
			return
		case <-tick.C:
			nd.n.Tick()
		case rd := <-nd.n.Ready():
			// Snapshot, entries and hard state, with one sync when raft
			// asks for one: this replaces wal.Save + MemoryStorage.
			if err := nd.st.SaveReady(rd); err != nil {
				log.Fatalf("node %d: save: %v", nd.id, err)
			}
			if !raft.IsEmptySnap(rd.Snapshot) {
				if err := nd.restore(rd.Snapshot); err != nil {
					log.Fatalf("node %d: restore: %v", nd.id, err)
				}
				nd.snapsIn.Add(1)
			}
			for _, m := range rd.Messages {
				nd.send(m)
			}
			nd.apply(rd.CommittedEntries)
			nd.st.Release(rd.CommittedEntries) // zero-copy: done with them
			nd.maybeSnapshot()
			nd.n.Advance()
		}
	}
}

func (nd *kvNode) send(m *pb.Message) {
	if q := nd.out[m.GetTo()]; q != nil {
		q.push(m)
		return
	}
	nd.st.ReleaseMessage(m)
}

func (nd *kvNode) apply(ents []*pb.Entry) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	for _, e := range ents {
		if e.GetIndex() <= nd.applied {
			continue
		}
		nd.applied = e.GetIndex()
		switch e.GetType() {
		case pb.EntryNormal:
			if len(e.Data) == 0 {
				continue
			}
			var c command
			if err := json.Unmarshal(e.Data, &c); err != nil { // copies out of the mapped page
				log.Fatalf("node %d: entry %d: %v", nd.id, e.GetIndex(), err)
			}
			nd.kv[c.Key] = c.Val
			if w := nd.waiters[c.ID]; w != nil {
				close(w)
				delete(nd.waiters, c.ID)
			}
		case pb.EntryConfChange:
			var cc pb.ConfChange
			if err := proto.Unmarshal(e.Data, &cc); err != nil {
				log.Fatalf("node %d: conf change: %v", nd.id, err)
			}
			nd.cs = nd.n.ApplyConfChange(&cc)
		}
	}
}

// maybeSnapshot snapshots the state machine every snapshotEvery entries
// and compacts the log behind it.
func (nd *kvNode) maybeSnapshot() {
	nd.mu.Lock()
	if nd.applied < nd.lastSnap+snapshotEvery {
		nd.mu.Unlock()
		return
	}
	applied, cs := nd.applied, nd.cs
	data, err := json.Marshal(nd.kv)
	nd.lastSnap = applied
	nd.mu.Unlock()
	if err != nil {
		log.Fatal(err)
	}
	if _, err := nd.st.CreateSnapshot(applied, cs, data); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
		log.Fatalf("node %d: snapshot: %v", nd.id, err)
	}
	if applied > keepEntries {
		if err := nd.st.Compact(applied - keepEntries); err != nil && !errors.Is(err, raft.ErrCompacted) {
			log.Fatalf("node %d: compact: %v", nd.id, err)
		}
	}
}

func (nd *kvNode) restore(snap *pb.Snapshot) error {
	kv := map[string]string{}
	if len(snap.Data) > 0 {
		if err := json.Unmarshal(snap.Data, &kv); err != nil {
			return err
		}
	}
	nd.mu.Lock()
	defer nd.mu.Unlock()
	nd.kv = kv
	nd.applied = snap.GetMetadata().GetIndex()
	nd.lastSnap = nd.applied
	nd.cs = snap.GetMetadata().GetConfState()
	return nil
}

// put proposes key=val and waits until this node has applied it.
func (nd *kvNode) put(ctx context.Context, key, val string) error {
	c := command{ID: nd.nextReq.Add(1), Key: key, Val: val}
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	ch := make(chan struct{})
	nd.mu.Lock()
	nd.waiters[c.ID] = ch
	nd.mu.Unlock()
	defer func() {
		nd.mu.Lock()
		delete(nd.waiters, c.ID)
		nd.mu.Unlock()
	}()
	if err := nd.n.Propose(ctx, data); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (nd *kvNode) get(key string) (string, bool) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	v, ok := nd.kv[key]
	return v, ok
}

func (nd *kvNode) state() (applied uint64, keys int, kv map[string]string) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.applied, len(nd.kv), maps.Clone(nd.kv)
}

func (nd *kvNode) isLeader() bool { return nd.n.Status().RaftState == raft.StateLeader }

func (nd *kvNode) String() string { return fmt.Sprintf("node %d", nd.id) }
