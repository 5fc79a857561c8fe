package hashicorp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/zeebo/xxh3"
)

// testFSM records which commands it applied (a bitmap of command IDs),
// how many, and a running hash of them in order: two FSMs with the same
// count and hash applied the same commands in the same order.
type testFSM struct {
	mu       sync.Mutex
	count    uint64
	digest   uint64
	seen     []uint64 // bitmap of command IDs
	restores int      // Restore calls
	lastIdx  uint64   // raft index of the last entry applied
}

type fsmState struct {
	count, digest uint64
	seen          []uint64
}

// command returns the command with ID id: 8 bytes of ID and some payload.
func command(id uint64) []byte {
	b := make([]byte, 8, 64)
	binary.LittleEndian.PutUint64(b, id)
	return fmt.Appendf(b, "payload of command %d", id)
}

func (f *testFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := binary.LittleEndian.Uint64(l.Data)
	for uint64(len(f.seen))*64 <= id {
		f.seen = append(f.seen, 0)
	}
	f.seen[id/64] |= 1 << (id % 64)
	f.count++
	f.digest = xxh3.HashSeed(l.Data, f.digest)
	f.lastIdx = l.Index
	return nil
}

func (f *testFSM) state() fsmState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fsmState{f.count, f.digest, append([]uint64(nil), f.seen...)}
}

func (f *testFSM) has(id uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return id/64 < uint64(len(f.seen)) && f.seen[id/64]&(1<<(id%64)) != 0
}

func (f *testFSM) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{f.state()}, nil
}

func (f *testFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var hdr [24]byte
	if _, err := io.ReadFull(rc, hdr[:]); err != nil {
		return err
	}
	n := binary.LittleEndian.Uint64(hdr[16:])
	if n > 1<<20 {
		return fmt.Errorf("bitmap of %d words", n)
	}
	seen := make([]uint64, n)
	if err := binary.Read(rc, binary.LittleEndian, seen); err != nil {
		return err
	}
	if _, err := rc.Read(make([]byte, 1)); err != io.EOF {
		return fmt.Errorf("trailing data: %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.count = binary.LittleEndian.Uint64(hdr[0:])
	f.digest = binary.LittleEndian.Uint64(hdr[8:])
	f.seen = seen
	f.restores++
	return nil
}

type fsmSnapshot struct{ st fsmState }

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	var hdr [24]byte
	binary.LittleEndian.PutUint64(hdr[0:], s.st.count)
	binary.LittleEndian.PutUint64(hdr[8:], s.st.digest)
	binary.LittleEndian.PutUint64(hdr[16:], uint64(len(s.st.seen)))
	if _, err := sink.Write(hdr[:]); err != nil {
		_ = sink.Cancel()
		return err
	}
	if err := binary.Write(sink, binary.LittleEndian, s.st.seen); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() {}

// testNode is one raft server on a Store, over an InmemTransport.
type testNode struct {
	id    raft.ServerID
	addr  raft.ServerAddress
	dir   string
	store *Store
	fsm   *testFSM
	trans *raft.InmemTransport
	raft  *raft.Raft
}

type testCluster struct {
	t     *testing.T
	nodes []*testNode
}

func testRaftConfig(id raft.ServerID) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	c.HeartbeatTimeout = 50 * time.Millisecond
	c.ElectionTimeout = 50 * time.Millisecond
	c.LeaderLeaseTimeout = 50 * time.Millisecond
	c.CommitTimeout = 5 * time.Millisecond
	c.SnapshotThreshold = 1000
	c.SnapshotInterval = 100 * time.Millisecond
	c.TrailingLogs = 500
	c.RestoreCommittedLogs = true // exercises CommitTrackingLogStore
	c.BatchApplyCh = true         // applies pipelined from one goroutine share StoreLogs calls
	out := io.Discard
	if os.Getenv("SPOOL_RAFT_LOG") != "" {
		out = os.Stderr
	}
	c.Logger = hclog.New(&hclog.LoggerOptions{Name: string(id), Output: out, Level: hclog.Debug})
	return c
}

// start opens the node's store from its directory and starts raft on it,
// connected to every running node.
func (c *testCluster) start(n *testNode, bootstrap *raft.Configuration) {
	c.t.Helper()
	var err error
	if n.store, err = Open(n.dir, &Options{SegmentSize: 256 << 10}); err != nil {
		c.t.Fatal(err)
	}
	n.fsm = &testFSM{}
	_, n.trans = raft.NewInmemTransport(n.addr)
	for _, o := range c.nodes {
		if o != n && o.raft != nil {
			n.trans.Connect(o.addr, o.trans)
			o.trans.Connect(n.addr, n.trans)
		}
	}
	conf := testRaftConfig(n.id)
	if bootstrap != nil {
		if err := raft.BootstrapCluster(conf, n.store, n.store, n.store.Snapshots(), n.trans, *bootstrap); err != nil {
			c.t.Fatal(err)
		}
	}
	if n.raft, err = raft.NewRaft(conf, n.fsm, n.store, n.store, n.store.Snapshots(), n.trans); err != nil {
		c.t.Fatal(err)
	}
}

// stop shuts the node's raft down and disconnects it. With crash, the
// store is not closed before its directory is copied: the node restarts
// from the image a killed process leaves (no clean-shutdown record).
func (c *testCluster) stop(n *testNode, crash bool) {
	c.t.Helper()
	for _, o := range c.nodes {
		if o != n && o.raft != nil {
			o.trans.Disconnect(n.addr)
			n.trans.Disconnect(o.addr)
		}
	}
	if err := n.raft.Shutdown().Error(); err != nil {
		c.t.Fatal(err)
	}
	n.raft = nil
	_ = n.trans.Close()
	if crash {
		img := c.t.TempDir()
		copyDir(c.t, n.dir, img)
		_ = n.store.Close()
		n.dir = img
	} else if err := n.store.Close(); err != nil {
		c.t.Fatal(err)
	}
	n.store = nil
}

func (c *testCluster) shutdown() {
	for _, n := range c.nodes {
		if n.raft != nil {
			_ = n.raft.Shutdown().Error()
			_ = n.trans.Close()
			n.raft = nil
		}
		if n.store != nil {
			_ = n.store.Close()
		}
	}
}

func (c *testCluster) leader() *testNode {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			if n.raft != nil && n.raft.State() == raft.Leader {
				return n
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatal("no leader elected")
	return nil
}

// apply applies commands [from, to) through the leader, many in flight at
// once, and records which were acknowledged. It returns the first error
// (commands after it may or may not have been applied).
func (c *testCluster) apply(from, to uint64, acked map[uint64]bool) error {
	return applyVia(c.leader(), from, to, acked)
}

// applyVia is apply through node l.
func applyVia(l *testNode, from, to uint64, acked map[uint64]bool) error {
	futures := make([]raft.ApplyFuture, 0, 256)
	ids := make([]uint64, 0, 256)
	wait := func() error {
		var first error
		for i, f := range futures {
			if err := f.Error(); err != nil {
				if first == nil {
					first = err
				}
				continue
			}
			acked[ids[i]] = true
		}
		futures, ids = futures[:0], ids[:0]
		return first
	}
	for id := from; id < to; id++ {
		futures = append(futures, l.raft.Apply(command(id), 10*time.Second))
		ids = append(ids, id)
		if len(futures) == cap(futures) {
			if err := wait(); err != nil {
				return err
			}
		}
	}
	return wait()
}

// waitConverged waits until every running node's FSM equals the leader's
// after a barrier.
func (c *testCluster) waitConverged() fsmState {
	c.t.Helper()
	l := c.leader()
	if err := l.raft.Barrier(10 * time.Second).Error(); err != nil {
		c.t.Fatal(err)
	}
	want := l.fsm.state()
	deadline := time.Now().Add(20 * time.Second)
	for _, n := range c.nodes {
		if n.raft == nil {
			continue
		}
		for {
			st := n.fsm.state()
			if st.count == want.count && st.digest == want.digest {
				if len(st.seen) != len(want.seen) {
					c.t.Fatalf("node %s: same count and digest, different bitmap", n.id)
				}
				for i := range st.seen {
					if st.seen[i] != want.seen[i] {
						c.t.Fatalf("node %s: same count and digest, different bitmap", n.id)
					}
				}
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("node %s: %d commands applied (digest %x), leader %s: %d (%x)", n.id, st.count, st.digest, l.id, want.count, want.digest)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return want
}

func firstLast(t testing.TB, s *Store) (uint64, uint64) {
	f, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	return f, l
}

// TestCluster runs three raft servers on spool stores: over 10,000
// commands, automatic and forced snapshots with log compaction, a follower
// that falls behind the leader's compaction point and catches up by
// snapshot after restarting from disk, a leader killed (restarted later
// from a crash image of its directory) and a new one elected. At the end
// all FSMs are identical and hold every acknowledged command.
func TestCluster(t *testing.T) {
	start := time.Now()
	c := &testCluster{t: t}
	defer c.shutdown()
	var servers []raft.Server
	for i := 1; i <= 3; i++ {
		n := &testNode{id: raft.ServerID(fmt.Sprintf("node%d", i)), addr: raft.ServerAddress(fmt.Sprintf("addr%d", i)), dir: t.TempDir()}
		c.nodes = append(c.nodes, n)
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: n.id, Address: n.addr})
	}
	conf := raft.Configuration{Servers: servers}
	for _, n := range c.nodes {
		c.start(n, &conf)
	}
	acked := map[uint64]bool{}
	next := uint64(0)
	applyN := func(n uint64) {
		t.Helper()
		if err := c.apply(next, next+n, acked); err != nil {
			t.Fatalf("apply [%d, %d): %v", next, next+n, err)
		}
		next += n
	}
	phase := func(format string, args ...any) {
		t.Logf("%6.0fms  %s", float64(time.Since(start).Microseconds())/1000, fmt.Sprintf(format, args...))
	}

	// 1. Everyone up.
	applyN(2500)
	c.waitConverged()
	phase("2500 commands applied on 3 nodes")

	// 2. A follower stops and falls behind the leader's compaction point.
	l := c.leader()
	var lag *testNode
	for _, n := range c.nodes {
		if n != l {
			lag = n
			break
		}
	}
	_, lagLast := firstLast(t, lag.store)
	c.stop(lag, false)
	phase("stopped follower %s at index %d", lag.id, lagLast)
	applyN(3000)
	l = c.leader()
	if err := l.raft.Snapshot().Error(); err != nil {
		t.Fatalf("leader snapshot: %v", err)
	}
	lFirst, lLast := firstLast(t, l.store)
	if lFirst <= lagLast+1 {
		t.Fatalf("leader %s log [%d, %d] not compacted past the stopped follower's %d", l.id, lFirst, lLast, lagLast)
	}
	phase("3000 more; leader %s snapshot, log compacted to [%d, %d]", l.id, lFirst, lLast)

	// 3. The follower restarts from disk and catches up by snapshot.
	c.start(lag, nil)
	startupRestores := lag.fsm.restores
	applyN(1500)
	c.waitConverged()
	lag.fsm.mu.Lock()
	restores := lag.fsm.restores
	lag.fsm.mu.Unlock()
	snaps, err := lag.store.Snapshots().List()
	if err != nil {
		t.Fatal(err)
	}
	lagFirst, _ := firstLast(t, lag.store)
	if restores <= startupRestores || len(snaps) == 0 || snaps[0].Index <= lagLast || lagFirst <= lagLast+1 {
		t.Fatalf("follower %s did not catch up by snapshot: restores %d (%d at startup), snapshots %v, log first %d, stopped at %d",
			lag.id, restores, startupRestores, snaps, lagFirst, lagLast)
	}
	phase("follower %s restarted, installed snapshot at %d, log now from %d; 1500 more applied", lag.id, snaps[0].Index, lagFirst)

	// 4. The leader is killed with commands in flight; a new one is
	// elected and carries on. Commands whose futures failed may or may
	// not have been applied; acknowledged ones must be.
	old := c.leader()
	inflight := map[uint64]bool{}
	done := make(chan error, 1)
	before := old.fsm.state().count
	go func() { done <- applyVia(old, next, next+2000, inflight) }()
	for old.fsm.state().count < before+300 {
		time.Sleep(time.Millisecond)
	}
	c.stop(old, true)
	killErr := <-done
	for id := range inflight {
		acked[id] = true
	}
	next += 2000
	newL := c.leader()
	phase("leader %s killed after %d of 2000 commands acknowledged (%v); %s elected", old.id, len(inflight), killErr, newL.id)
	applyN(1000)

	// 5. The old leader restarts from its crash image and rejoins.
	c.start(old, nil)
	applyN(1500)
	final := c.waitConverged()
	phase("%s restarted from a crash image and rejoined; %d commands in all", old.id, next)

	if next < 10_000 || final.count < uint64(len(acked)) {
		t.Fatalf("%d commands issued, %d acknowledged, %d applied", next, len(acked), final.count)
	}
	for _, n := range c.nodes {
		for id := range acked {
			if !n.fsm.has(id) {
				t.Fatalf("node %s lost acknowledged command %d", n.id, id)
			}
		}
		f, last := firstLast(t, n.store)
		snaps, err := n.store.Snapshots().List()
		if err != nil {
			t.Fatal(err)
		}
		// Compacted, or emptied by a snapshot installation that covered
		// the whole log.
		if len(snaps) == 0 || (f <= 1 && !(f == 0 && snaps[0].Index >= lLast)) {
			t.Errorf("node %s: log [%d, %d] never compacted (snapshots %v)", n.id, f, last, snaps)
		}
		t.Logf("node %s: log [%d, %d], newest snapshot at %d, %d restores", n.id, f, last, snaps[0].Index, n.fsm.restores)
	}
}

// TestRaftFallsBackToOlderSnapshot: with the newest snapshot corrupt, a
// restarting raft restores the previous one (raft tries List's snapshots
// in order until Open succeeds).
func TestRaftFallsBackToOlderSnapshot(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, nil)
	snaps := s.Snapshots()
	mk := func(index uint64, commands uint64) string {
		f := &testFSM{}
		for id := range commands {
			f.Apply(&raft.Log{Index: id + 1, Data: command(id)})
		}
		sink, err := snaps.Create(1, index, 1, raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: "n", Address: "n"}}}, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		snap, _ := f.Snapshot()
		if err := snap.Persist(sink); err != nil {
			t.Fatal(err)
		}
		return sink.ID()
	}
	mk(10, 10)
	newest := mk(20, 20)
	flipByte(t, filepath.Join(snaps.Dir(), newest+snapExt), snapHeaderSize+4)
	_ = s.SetUint64([]byte("CurrentTerm"), 1)

	fsm := &testFSM{}
	_, trans := raft.NewInmemTransport("n")
	conf := testRaftConfig("n")
	r, err := raft.NewRaft(conf, fsm, s, s, snaps, trans)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = r.Shutdown().Error()
		_ = trans.Close()
	}()
	if st := fsm.state(); st.count != 10 || fsm.restores != 1 {
		t.Fatalf("restored %d commands in %d restores, want the older snapshot's 10", st.count, fsm.restores)
	}
	if list, _ := snaps.List(); len(list) != 1 || list[0].Index != 10 {
		t.Fatalf("List after fallback: %v", list)
	}
	if _, _, err := snaps.Open(newest); err == nil || errors.Is(err, ErrSnapshotCorrupt) {
		// Set aside: the ID no longer names a published snapshot.
		if err == nil {
			t.Fatal("corrupt snapshot still opens")
		}
	}
}
