package hashicorp_test

import (
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/spoolhq/spool/raftadapter/hashicorp"
)

// listFSM is a state machine that keeps the commands it applied.
type listFSM struct {
	mu   sync.Mutex
	cmds []string
}

func (f *listFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, string(l.Data)) // l.Data is ours to keep
	return len(f.cmds)
}

func (f *listFSM) Snapshot() (raft.FSMSnapshot, error) { return nil, fmt.Errorf("not in this example") }

func (f *listFSM) Restore(rc io.ReadCloser) error { return rc.Close() }

// A single-node raft on a spool Store: the Store is both the LogStore and
// the StableStore, and Snapshots() is the SnapshotStore. After a restart
// raft finds its state on disk.
func Example() {
	dir, _ := os.MkdirTemp("", "spool-hashicorp-example-")
	defer os.RemoveAll(dir)

	for run := 1; run <= 2; run++ {
		store, err := hashicorp.Open(dir, nil)
		if err != nil {
			log.Fatal(err)
		}
		conf := raft.DefaultConfig()
		conf.LocalID = "node1"
		conf.Logger = hclog.NewNullLogger()
		conf.HeartbeatTimeout, conf.ElectionTimeout, conf.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
		_, trans := raft.NewInmemTransport("node1")
		existing, _ := raft.HasExistingState(store, store, store.Snapshots())
		if !existing {
			_ = raft.BootstrapCluster(conf, store, store, store.Snapshots(), trans, raft.Configuration{
				Servers: []raft.Server{{ID: "node1", Address: trans.LocalAddr()}},
			})
		}
		fsm := &listFSM{}
		r, err := raft.NewRaft(conf, fsm, store, store, store.Snapshots(), trans)
		if err != nil {
			log.Fatal(err)
		}
		for deadline := time.Now().Add(10 * time.Second); r.State() != raft.Leader; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				log.Fatal("no leader")
			}
		}
		if err := r.Apply([]byte(fmt.Sprintf("command of run %d", run)), time.Second).Error(); err != nil {
			log.Fatal(err)
		}
		_ = r.Barrier(time.Second).Error()
		fsm.mu.Lock()
		fmt.Printf("run %d: existing state %v, applied %q\n", run, existing, fsm.cmds)
		fsm.mu.Unlock()
		_ = r.Shutdown().Error()
		_ = trans.Close()
		_ = store.Close() // after raft has shut down
	}
	// Output:
	// run 1: existing state false, applied ["command of run 1"]
	// run 2: existing state true, applied ["command of run 1" "command of run 2"]
}

// The Store used directly through the raft.LogStore and raft.StableStore
// interfaces.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "spool-hashicorp-example-")
	defer os.RemoveAll(dir)

	store, err := hashicorp.Open(dir, &hashicorp.Options{SnapshotRetain: 3})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// One StoreLogs call: one atomic batch, one sync.
	err = store.StoreLogs([]*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("x=1")},
		{Index: 2, Term: 1, Type: raft.LogCommand, Data: []byte("y=2"), Extensions: []byte("meta")},
	})
	if err != nil {
		log.Fatal(err)
	}
	var l raft.Log
	if err := store.GetLog(2, &l); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("entry %d: term %d, data %q, extensions %q\n", l.Index, l.Term, l.Data, l.Extensions)
	if err := store.GetLog(3, &l); err == raft.ErrLogNotFound { // raft compares with ==
		fmt.Println("entry 3: raft.ErrLogNotFound")
	}

	_ = store.SetUint64([]byte("CurrentTerm"), 1)
	term, _ := store.GetUint64([]byte("CurrentTerm"))
	missing, err := store.Get([]byte("LastVoteCand"))
	fmt.Printf("CurrentTerm %d; a missing key reads as %v, %v\n", term, missing, err)

	// Compaction removes a prefix; a conflict removes a suffix.
	_ = store.DeleteRange(1, 1)
	first, _ := store.FirstIndex()
	last, _ := store.LastIndex()
	fmt.Printf("log [%d, %d]\n", first, last)
	// Output:
	// entry 2: term 1, data "y=2", extensions "meta"
	// entry 3: raft.ErrLogNotFound
	// CurrentTerm 1; a missing key reads as [], <nil>
	// log [2, 2]
}

// Writing and reading a snapshot through the raft.SnapshotStore that a
// Store keeps beside its log (raft does this itself; the example shows
// the checksummed round trip).
func ExampleStore_Snapshots() {
	dir, _ := os.MkdirTemp("", "spool-hashicorp-example-")
	defer os.RemoveAll(dir)
	store, err := hashicorp.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	snaps := store.Snapshots()

	conf := raft.Configuration{Servers: []raft.Server{{ID: "node1", Address: "127.0.0.1:7000"}}}
	sink, err := snaps.Create(raft.SnapshotVersionMax, 1000, 3, conf, 1, nil)
	if err != nil {
		log.Fatal(err)
	}
	_, _ = io.WriteString(sink, "the state machine, streamed")
	if err := sink.Close(); err != nil { // fsync, rename, directory fsync
		log.Fatal(err)
	}

	list, _ := snaps.List()
	fmt.Printf("%d snapshot: index %d, term %d, %d bytes\n", len(list), list[0].Index, list[0].Term, list[0].Size)
	_, rc, err := snaps.Open(list[0].ID) // the checksums are verified first
	if err != nil {
		log.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	_ = rc.Close()
	fmt.Printf("%s\n", data)
	_, _, err = snaps.Open("../../etc/passwd")
	fmt.Println(err)
	// Output:
	// 1 snapshot: index 1000, term 3, 27 bytes
	// the state machine, streamed
	// hashicorp: invalid snapshot ID "../../etc/passwd"
}

// Migrating a stopped node from other stores. raft.InmemStore and
// raft.FileSnapshotStore stand in here for raft-boltdb's BoltStore (or
// raft-wal's WAL) and the node's snapshot directory.
func ExampleMigrate() {
	dir, _ := os.MkdirTemp("", "spool-hashicorp-example-")
	defer os.RemoveAll(dir)

	old := raft.NewInmemStore()
	for i := uint64(1); i <= 100; i++ {
		_ = old.StoreLog(&raft.Log{Index: i, Term: 2, Type: raft.LogCommand, Data: []byte("command")})
	}
	_ = old.SetUint64([]byte("CurrentTerm"), 2)
	_ = old.Set([]byte("LastVoteCand"), []byte("node1"))
	oldSnaps, _ := raft.NewFileSnapshotStoreWithLogger(dir+"/old-snapshots", 2, hclog.NewNullLogger())

	store, err := hashicorp.Open(dir+"/spool", nil)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	stats, err := hashicorp.Migrate(store, hashicorp.MigrateSource{Logs: old, Stable: old, Snapshots: oldSnaps})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("copied entries %d-%d (%d bytes), %d stable keys, %d snapshots\n",
		stats.First, stats.Last, stats.Bytes, stats.StableKeys, stats.Snapshots)
	// Output:
	// copied entries 1-100 (700 bytes), 2 stable keys, 0 snapshots
}
