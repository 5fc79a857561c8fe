package hashicorp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
	trans *countingTransport
	raft  *raft.Raft

	// What the store held when start opened it, before raft ran.
	openFirst, openLast, openTerm uint64
	// What the store held when stop shut raft down, before it was closed:
	// read once nothing changes it any more (a running raft's snapshot
	// loop compacts the log at moments of its own).
	stopFirst, stopLast, stopTerm uint64
	stopSnaps                     []*raft.SnapshotMeta
}

// countingTransport is an InmemTransport that counts the InstallSnapshot
// RPCs its node sends successfully, per target.
type countingTransport struct {
	*raft.InmemTransport
	c *testCluster
}

func (t *countingTransport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest,
	resp *raft.InstallSnapshotResponse, data io.Reader) error {
	err := t.InmemTransport.InstallSnapshot(id, target, args, resp, data)
	if err == nil && resp.Success {
		t.c.mu.Lock()
		t.c.installs[target]++
		t.c.mu.Unlock()
	}
	return err
}

type testCluster struct {
	t     *testing.T
	nodes []*testNode

	mu       sync.Mutex
	installs map[raft.ServerAddress]int // successful InstallSnapshot RPCs by target
}

func (c *testCluster) installsTo(n *testNode) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.installs[n.addr]
}

// stallLimit bounds every wait of the raft tests for a condition (a
// leader, convergence, an RPC counted): a failure guard against a hung
// cluster, reset by progress where there is progress to see, far above
// any pause a busy machine causes. Nothing is expected to happen within
// it; the tests wait for events, not for time.
const stallLimit = 2 * time.Minute

// Timeouts of about a second: a loaded 2-core machine under the race
// detector starves raft's goroutines for hundreds of milliseconds, and
// shorter timeouts turn that into lost leaders and elections the tests do
// not ask for (apply retries what a lost leadership fails, but a cluster
// that changes leader all the time makes no progress). Elections the tests
// cause wait out a timeout or two, a few seconds in all.
func testRaftConfig(id raft.ServerID) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	c.HeartbeatTimeout = time.Second
	c.ElectionTimeout = time.Second
	c.LeaderLeaseTimeout = 500 * time.Millisecond
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
	if n.store, err = Open(n.dir, &Options{JournalOptions: JournalOptions{SegmentSize: 256 << 10}}); err != nil {
		c.t.Fatal(err)
	}
	n.openFirst, n.openLast = firstLast(c.t, n.store)
	if n.openTerm, err = n.store.GetUint64([]byte("CurrentTerm")); err != nil {
		c.t.Fatal(err)
	}
	n.fsm = &testFSM{}
	_, inmem := raft.NewInmemTransport(n.addr)
	n.trans = &countingTransport{inmem, c}
	for _, o := range c.nodes {
		if o != n && o.raft != nil {
			n.trans.Connect(o.addr, o.trans.InmemTransport)
			o.trans.Connect(n.addr, n.trans.InmemTransport)
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

// stop cuts the node off from the others (from their point of view it
// is dead from that moment) and shuts its raft down, then records what its
// store holds (stopFirst and the rest). With crash, the
// store is not closed before its directory is copied: the node restarts
// from the image a killed process leaves (what reached the page cache;
// no clean-shutdown record, so recovery scans the tail). The copy is taken
// once raft has stopped writing, so that it is one consistent state.
func (c *testCluster) stop(n *testNode, crash bool) {
	c.t.Helper()
	c.isolate(n)
	if err := n.raft.Shutdown().Error(); err != nil {
		c.t.Fatal(err)
	}
	n.raft = nil
	_ = n.trans.Close()
	n.stopFirst, n.stopLast = firstLast(c.t, n.store)
	var err error
	if n.stopTerm, err = n.store.GetUint64([]byte("CurrentTerm")); err != nil {
		c.t.Fatal(err)
	}
	if n.stopSnaps, err = n.store.Snapshots().List(); err != nil {
		c.t.Fatal(err)
	}
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

// isolate disconnects node n from the others.
func (c *testCluster) isolate(n *testNode) {
	for _, o := range c.nodes {
		if o != n && o.raft != nil {
			o.trans.Disconnect(n.addr)
			n.trans.Disconnect(o.addr)
		}
	}
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
	deadline := time.Now().Add(stallLimit)
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

// apply applies commands [from, to) through the leader, many in flight
// at once, and records which were acknowledged. Commands whose futures
// fail (a leadership change) are submitted again through the new leader,
// for as long as rounds make progress (10 rounds in a row that acknowledge
// nothing fail the test); such a command may end up applied twice, which
// the FSM's bitmap absorbs.
func (c *testCluster) apply(from, to uint64, acked map[uint64]bool) {
	c.t.Helper()
	ids := make([]uint64, 0, to-from)
	for id := from; id < to; id++ {
		ids = append(ids, id)
	}
	for idle := 0; len(ids) > 0; {
		if idle == 10 {
			c.t.Fatalf("%d commands still not acknowledged after %d rounds that acknowledged none", len(ids), idle)
		}
		before := len(ids)
		var err error
		ids, err = applyIDs(c.leader(), ids, acked)
		if len(ids) == before {
			idle++
		} else {
			idle = 0
		}
		if len(ids) > 0 {
			c.t.Logf("%d commands to resubmit after: %v", len(ids), err)
		}
	}
}

// applyIDs applies the commands ids through node l, up to 256 in flight,
// records the acknowledged ones in acked, and returns the others and the
// first error.
func applyIDs(l *testNode, ids []uint64, acked map[uint64]bool) (failed []uint64, first error) {
	r := l.raft
	futures := make([]raft.ApplyFuture, 0, 256)
	var batch []uint64
	wait := func() {
		for i, f := range futures {
			if err := f.Error(); err != nil {
				if first == nil {
					first = err
				}
				failed = append(failed, batch[i])
				continue
			}
			acked[batch[i]] = true
		}
		futures, batch = futures[:0], batch[:0]
	}
	for _, id := range ids {
		futures = append(futures, r.Apply(command(id), 10*time.Second))
		batch = append(batch, id)
		if len(futures) == cap(futures) {
			wait()
		}
	}
	wait()
	return failed, first
}

// applyVia applies commands [from, to) through node l and returns the
// first error.
func applyVia(l *testNode, from, to uint64, acked map[uint64]bool) error {
	ids := make([]uint64, 0, to-from)
	for id := from; id < to; id++ {
		ids = append(ids, id)
	}
	_, err := applyIDs(l, ids, acked)
	return err
}

// waitConverged waits until every running node's FSM equals the leader's
// after a barrier, and returns that state. A node is given stallLimit
// from its last progress (a command applied or a snapshot restored), not
// from the start of the wait.
func (c *testCluster) waitConverged() fsmState {
	c.t.Helper()
	var l *testNode
	for try := 0; ; try++ {
		l = c.leader()
		err := l.raft.Barrier(stallLimit).Error()
		if err == nil {
			break
		}
		if try == 10 {
			c.t.Fatalf("barrier: %v", err)
		}
	}
	want := l.fsm.state()
	for _, n := range c.nodes {
		if n.raft == nil {
			continue
		}
		var seen fsmState
		deadline := time.Now().Add(stallLimit)
		for {
			st := n.fsm.state()
			if st.count == want.count && st.digest == want.digest {
				if !slices.Equal(st.seen, want.seen) {
					c.t.Fatalf("node %s: same count and digest, different bitmap", n.id)
				}
				break
			}
			if st.count != seen.count || st.digest != seen.digest {
				seen, deadline = st, time.Now().Add(stallLimit)
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("node %s: %d commands applied (digest %x) and no progress for %v, leader %s: %d (%x)",
					n.id, st.count, st.digest, stallLimit, l.id, want.count, want.digest)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return want
}

// waitFor polls cond until it holds; after stallLimit it fails the test
// with what.
func (c *testCluster) waitFor(what string, cond func() bool) {
	c.t.Helper()
	for deadline := time.Now().Add(stallLimit); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: not after %v", what, stallLimit)
		}
	}
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
// that falls behind the leader's compaction point and, restarted from
// disk, catches up by an InstallSnapshot, a leader killed with commands in
// flight (restarted later from a crash image of its directory) and a new
// one elected. At the end all FSMs are identical and hold every
// acknowledged command, and nothing that was never submitted.
func TestCluster(t *testing.T) {
	start := time.Now()
	c := &testCluster{t: t, installs: map[raft.ServerAddress]int{}}
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
		c.apply(next, next+n, acked)
		next += n
	}
	phase := func(format string, args ...any) {
		t.Logf("%6.0fms  %s", float64(time.Since(start).Microseconds())/1000, fmt.Sprintf(format, args...))
	}

	// 1. Everyone up.
	applyN(2500)
	c.waitConverged()
	phase("2500 commands applied on 3 nodes")

	// 2. A follower stops and falls behind the compaction point of every
	// running node (whichever leads when it returns must send it a
	// snapshot). What it holds is read once it has stopped.
	l := c.leader()
	var lag *testNode
	for _, n := range c.nodes {
		if n != l {
			lag = n
			break
		}
	}
	c.stop(lag, false)
	lagFirst, lagLast, lagTerm := lag.stopFirst, lag.stopLast, lag.stopTerm
	phase("stopped follower %s with log [%d, %d]", lag.id, lagFirst, lagLast)
	applyN(3000)
	// Every running node applies everything before it snapshots, so each
	// snapshot (and the compaction after it, TrailingLogs behind the last
	// entry) is past the stopped follower's log.
	c.waitConverged()
	l = c.leader()
	var lFirst, lLast uint64
	for _, n := range c.nodes {
		if n.raft == nil {
			continue
		}
		// ErrNothingNewToSnapshot: the node's own snapshot loop just
		// took one at its last applied index and compacted after it.
		if err := n.raft.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
			t.Fatalf("node %s snapshot: %v", n.id, err)
		}
		first, last := firstLast(t, n.store)
		if first <= lagLast+1 {
			t.Fatalf("node %s log [%d, %d] not compacted past the stopped follower's %d", n.id, first, last, lagLast)
		}
		if n == l {
			lFirst, lLast = first, last
		}
	}
	phase("3000 more; every running node snapshot, leader %s log compacted to [%d, %d]", l.id, lFirst, lLast)

	// 3. The follower restarts from disk and catches up by snapshot: the
	// entries it lacks are gone from every log, so AppendEntries cannot
	// bring it up to date.
	c.start(lag, nil)
	if lag.openFirst != lagFirst || lag.openLast != lagLast || lag.openTerm != lagTerm || lagTerm == 0 {
		t.Fatalf("follower %s reopened with log [%d, %d], term %d; had [%d, %d], term %d",
			lag.id, lag.openFirst, lag.openLast, lag.openTerm, lagFirst, lagLast, lagTerm)
	}
	lag.fsm.mu.Lock()
	startupRestores := lag.fsm.restores
	lag.fsm.mu.Unlock()
	applyN(1500)
	c.waitConverged()
	// The follower answers an InstallSnapshot only once it has restored the
	// snapshot and removed its old log (raft's installSnapshot), and the
	// leader counts the RPC when the answer comes back, which can be well
	// after the follower's FSM has converged: what the follower holds is
	// read after the count, not after convergence.
	c.waitFor(fmt.Sprintf("the leader's InstallSnapshot to %s answered", lag.id), func() bool { return c.installsTo(lag) > 0 })
	lag.fsm.mu.Lock()
	restores := lag.fsm.restores
	lag.fsm.mu.Unlock()
	snaps, err := lag.store.Snapshots().List()
	if err != nil {
		t.Fatal(err)
	}
	newFirst, _ := firstLast(t, lag.store)
	// Its log now starts past the gap, or is empty (the snapshot it
	// installed covered everything the leader had).
	if restores <= startupRestores || len(snaps) == 0 || snaps[0].Index <= lagLast || (newFirst != 0 && newFirst <= lagLast+1) {
		t.Fatalf("follower %s did not catch up by snapshot: %d InstallSnapshot RPCs to it, restores %d (%d at startup), snapshots %v, log first %d, stopped at %d",
			lag.id, c.installsTo(lag), restores, startupRestores, snaps, newFirst, lagLast)
	}
	phase("follower %s restarted from disk ([%d, %d], term %d), received %d InstallSnapshot, restored snapshot at %d, log now from %d; 1500 more applied",
		lag.id, lag.openFirst, lag.openLast, lag.openTerm, c.installsTo(lag), snaps[0].Index, newFirst)

	// 4. The leader is killed with commands in flight; a new one is
	// elected and carries on. Commands whose futures failed may or may
	// not have been applied; acknowledged ones must be.
	//
	// The kill is in two steps: the leader is cut off from the others
	// first (to them it is dead from that moment), and shut down once it
	// has answered every future it accepted. (raft v1.8 never answers
	// futures still queued in its apply channel when it is shut down, so
	// shutting it down at once would leave them unknowable.)
	old := c.leader()
	inflight := map[uint64]bool{}
	done := make(chan error, 1)
	before := old.fsm.state().count
	go func() { done <- applyVia(old, next, next+2000, inflight) }()
	var killErr error
	finished := false
	c.waitFor(fmt.Sprintf("leader %s applying 300 of the in-flight commands", old.id), func() bool {
		select {
		case killErr = <-done: // finished (or lost leadership) first
			finished = true
		default:
		}
		return finished || old.fsm.state().count >= before+300
	})
	c.isolate(old)
	if !finished {
		select {
		case killErr = <-done:
		case <-time.After(stallLimit):
			t.Fatal("the isolated leader's futures were never answered")
		}
	}
	c.stop(old, true)
	oldLast := old.stopLast
	for id := range inflight {
		acked[id] = true
	}
	next += 2000
	newL := c.leader()
	if newL == old {
		t.Fatal("the killed leader is still leader")
	}
	phase("leader %s killed at index %d after %d of 2000 in-flight commands were acknowledged (%v); %s elected", old.id, oldLast, len(inflight), killErr, newL.id)
	applyN(1000)

	// 5. The old leader restarts from its crash image and rejoins.
	c.start(old, nil)
	if old.openLast < oldLast || old.openTerm == 0 {
		t.Fatalf("%s restarted from its crash image with log [%d, %d], term %d; it had logged %d",
			old.id, old.openFirst, old.openLast, old.openTerm, oldLast)
	}
	applyN(1500)
	final := c.waitConverged()
	phase("%s restarted from a crash image (log [%d, %d]) and rejoined; %d commands in all", old.id, old.openFirst, old.openLast, next)

	// Every node is stopped before its state is read: nothing moves any
	// more (no snapshot loop compacting, no restore in progress).
	for _, n := range c.nodes {
		c.stop(n, false)
	}
	if next < 10_000 || final.count < uint64(len(acked)) {
		t.Fatalf("%d commands issued, %d acknowledged, %d applied", next, len(acked), final.count)
	}
	for _, n := range c.nodes {
		st := n.fsm.state()
		if st.count != final.count || st.digest != final.digest {
			t.Fatalf("node %s stopped with %d commands applied (digest %x), converged on %d (%x)", n.id, st.count, st.digest, final.count, final.digest)
		}
		for id := range acked {
			if !n.fsm.has(id) {
				t.Fatalf("node %s lost acknowledged command %d", n.id, id)
			}
		}
		if uint64(len(st.seen))*64 > next+63 {
			t.Fatalf("node %s applied command IDs up to %d, only %d were submitted", n.id, len(st.seen)*64, next)
		}
		for id := next; id < uint64(len(st.seen))*64; id++ {
			if n.fsm.has(id) {
				t.Fatalf("node %s applied command %d, never submitted", n.id, id)
			}
		}
		f, last, snaps := n.stopFirst, n.stopLast, n.stopSnaps
		// Compacted, or emptied by a snapshot installation that covered
		// the whole log.
		if len(snaps) == 0 || (f <= 1 && !(f == 0 && snaps[0].Index >= lLast)) {
			t.Errorf("node %s: log [%d, %d] never compacted (snapshots %v)", n.id, f, last, snaps)
			continue
		}
		n.fsm.mu.Lock()
		restores := n.fsm.restores
		n.fsm.mu.Unlock()
		t.Logf("node %s: log [%d, %d], newest snapshot at %d, %d restores", n.id, f, last, snaps[0].Index, restores)
	}
	phase("done")
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
	// Set aside: the ID no longer names a published snapshot, and the
	// file is kept under another name for inspection.
	if _, _, err := snaps.Open(newest); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of the set-aside snapshot: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(snaps.Dir(), newest+snapBadExt)); err != nil {
		t.Fatal(err)
	}
}
