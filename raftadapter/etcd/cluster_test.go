package etcd

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/spoolhq/spool/raftadapter/etcdwire"
)

// The cluster test runs three raft.Nodes on spool storage (zero-copy mode)
// over an in-process network that carries every message through
// etcdwire.Writer and etcdwire.Unmarshal, and checks that the state machines
// end identical and that no acknowledged proposal is lost across restarts
// from disk, a partitioned follower catching up past compaction through a
// snapshot, and a leader change.

const (
	snapEvery = 400 // applied entries between snapshots
	keepAfter = 50  // entries kept behind a snapshot when compacting

	// stallLimit bounds every wait of the cluster test for a condition (a
	// leader, convergence, acknowledgements): a failure guard against a
	// hung cluster, reset by progress where there is progress to see, far
	// above any pause a busy machine causes. Nothing is expected to happen
	// within it; the test waits for events, not for time.
	stallLimit = 2 * time.Minute
)

type network struct {
	mu          sync.Mutex
	nodes       map[uint64]*testNode
	partitioned map[uint64]bool
	dropped     atomic.Int64
	snapsTo     map[uint64]int // MsgSnap messages delivered, by destination
}

func (nw *network) cut(id uint64, on bool) {
	nw.mu.Lock()
	nw.partitioned[id] = on
	nw.mu.Unlock()
}

// deliver hands a decoded message to its destination's inbox, or drops it.
func (nw *network) deliver(from uint64, m *pb.Message) bool {
	nw.mu.Lock()
	to := nw.nodes[m.GetTo()]
	ok := to != nil && !nw.partitioned[from] && !nw.partitioned[m.GetTo()]
	var inbox chan *pb.Message
	if ok {
		// Read under the lock: a restart (start, after halt took the
		// node out of the map under it) replaces the inbox.
		inbox = to.inbox
	}
	nw.mu.Unlock()
	if ok {
		select {
		case inbox <- m:
			if m.GetType() == pb.MsgSnap {
				nw.mu.Lock()
				nw.snapsTo[m.GetTo()]++
				nw.mu.Unlock()
			}
			return true
		default:
		}
	}
	nw.dropped.Add(1)
	return false
}

type testNode struct {
	t     *testing.T
	id    uint64
	dir   string
	nw    *network
	st    *Storage
	n     raft.Node
	inbox chan *pb.Message
	stop  chan struct{}
	wg    sync.WaitGroup

	mu        sync.Mutex
	kv        map[string]string
	applied   uint64
	cs        *pb.ConfState
	lastSnap  uint64
	snapsIn   int // snapshots received from the leader
	waiters   map[string][]chan struct{}
	failed    error
	sendBuf   bytes.Buffer
	writer    *etcdwire.Writer
	readyRuns int
}

// config: with the 10 ms tick of run, a heartbeat every tick (followers
// learn the commit index at once, so proposals acknowledged on them do not
// wait) and an election timeout of 0.5-1 s. A loaded 2-core machine under
// the race detector starves a node's goroutines for hundreds of
// milliseconds; a shorter timeout turns that into leader changes
// (CheckQuorum makes a leader that heard from no quorum in time step down)
// that the test does not ask for, and a cluster that keeps changing leader
// makes little progress. The elections the test causes wait out a timeout
// or two.
func (nd *testNode) config() *raft.Config {
	return &raft.Config{ID: nd.id, ElectionTick: 50, HeartbeatTick: 1, Storage: nd.st,
		MaxSizePerMsg: 64 << 10, MaxInflightMsgs: 128, CheckQuorum: true, PreVote: true,
		MaxCommittedSizePerReady: 1 << 20}
}

// start opens the node's storage and starts (or restarts) its raft node,
// restoring the state machine from the storage's snapshot.
func (nd *testNode) start(peers []raft.Peer) {
	st, err := Open(nd.dir, &Options{JournalOptions: JournalOptions{SegmentSize: 1 << 20}, ZeroCopy: true})
	if err != nil {
		nd.t.Fatal(err)
	}
	nd.mu.Lock()
	nd.st = st
	nd.writer = etcdwire.NewWriter(&nd.sendBuf, st)
	nd.kv, nd.applied, nd.lastSnap, nd.cs = map[string]string{}, 0, 0, &pb.ConfState{}
	nd.waiters = map[string][]chan struct{}{}
	nd.mu.Unlock()
	snap, err := st.Snapshot()
	if err != nil {
		nd.t.Fatal(err)
	}
	if idx := snap.GetMetadata().GetIndex(); idx > 0 {
		nd.restore(snap)
	}
	cfg := nd.config()
	cfg.Applied = nd.applied
	var n raft.Node
	if peers != nil {
		n = raft.StartNode(cfg, peers)
	} else {
		n = raft.RestartNode(cfg)
	}
	nd.mu.Lock()
	nd.n = n
	nd.mu.Unlock()
	nd.inbox = make(chan *pb.Message, 4096)
	nd.stop = make(chan struct{})
	nd.nw.mu.Lock()
	nd.nw.nodes[nd.id] = nd
	nd.nw.mu.Unlock()
	nd.wg.Add(2)
	go nd.run()
	go nd.receive()
}

// halt stops the node and closes its storage, as a process exit would.
func (nd *testNode) halt() {
	nd.nw.mu.Lock()
	delete(nd.nw.nodes, nd.id)
	nd.nw.mu.Unlock()
	close(nd.stop)
	nd.wg.Wait()
	nd.n.Stop()
	if err := nd.st.Close(); err != nil {
		nd.t.Error(err)
	}
}

func (nd *testNode) node() raft.Node {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.n
}

func (nd *testNode) receive() {
	defer nd.wg.Done()
	stop, n, inbox := nd.stop, nd.node(), nd.inbox
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case <-stop:
			return
		case m := <-inbox:
			stepFromPeer(ctx, n, m)
		}
	}
}

// stepFromPeer steps a received message. A proposal forwarded by a peer
// blocks in Node.Step until this node knows a leader, so it gets a short
// deadline: blocking would hold up the messages behind it, among them the
// ones that would tell this node who leads.
func stepFromPeer(ctx context.Context, n raft.Node, m *pb.Message) {
	if m.GetType() == pb.MsgProp {
		pctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_ = n.Step(pctx, m) // dropped on timeout; the client retries
		return
	}
	_ = n.Step(ctx, m)
}

func (nd *testNode) fail(err error) {
	nd.mu.Lock()
	if nd.failed == nil {
		nd.failed = err
	}
	nd.mu.Unlock()
}

func (nd *testNode) run() {
	defer nd.wg.Done()
	stop, n := nd.stop, nd.node()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			n.Tick()
		case rd := <-n.Ready():
			if err := nd.handle(rd); err != nil {
				nd.fail(err)
				return
			}
			n.Advance()
		}
	}
}

func (nd *testNode) handle(rd raft.Ready) error {
	if err := nd.st.SaveReady(rd); err != nil {
		return err
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		nd.mu.Lock()
		nd.snapsIn++
		nd.mu.Unlock()
		nd.restore(rd.Snapshot)
	}
	for _, m := range rd.Messages {
		nd.send(m)
	}
	for _, e := range rd.CommittedEntries {
		if err := nd.apply(e); err != nil {
			return err
		}
	}
	nd.st.Release(rd.CommittedEntries)
	nd.readyRuns++
	return nd.maybeSnapshot()
}

// send encodes m with the etcdwire.Writer (which releases its zero-copy
// entries) and delivers the decoded copy.
func (nd *testNode) send(m *pb.Message) {
	nd.sendBuf.Reset()
	if err := nd.writer.WriteMessage(m); err != nil {
		nd.fail(err)
		return
	}
	frame := nd.sendBuf.Bytes()
	size, k := binary.Uvarint(frame)
	if k <= 0 || int(size) != len(frame)-k {
		nd.fail(fmt.Errorf("bad frame"))
		return
	}
	dec, err := etcdwire.Unmarshal(bytes.Clone(frame[k:]))
	if err != nil {
		nd.fail(err)
		return
	}
	ok := nd.nw.deliver(nd.id, dec)
	if m.GetType() == pb.MsgSnap {
		status := raft.SnapshotFinish
		if !ok {
			status = raft.SnapshotFailure
		}
		nd.n.ReportSnapshot(m.GetTo(), status)
	}
	if !ok {
		nd.n.ReportUnreachable(m.GetTo())
	}
}

func (nd *testNode) apply(e *pb.Entry) error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if e.GetIndex() <= nd.applied {
		return nil
	}
	if e.GetIndex() != nd.applied+1 {
		return fmt.Errorf("node %d: applying %d after %d", nd.id, e.GetIndex(), nd.applied)
	}
	nd.applied = e.GetIndex()
	switch e.GetType() {
	case pb.EntryNormal:
		if len(e.Data) == 0 {
			return nil
		}
		k, v, ok := strings.Cut(string(e.Data), "=") // copies: the state machine keeps no mapped bytes
		if !ok {
			return fmt.Errorf("bad command %q", e.Data)
		}
		nd.kv[k] = v
		for _, w := range nd.waiters[k] {
			close(w)
		}
		delete(nd.waiters, k)
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := unmarshalConfChange(e.Data, &cc); err != nil {
			return err
		}
		nd.cs = nd.n.ApplyConfChange(&cc)
	}
	return nil
}

func (nd *testNode) maybeSnapshot() error {
	nd.mu.Lock()
	applied, cs := nd.applied, nd.cs
	if applied < nd.lastSnap+snapEvery {
		nd.mu.Unlock()
		return nil
	}
	data := encodeKV(nd.kv)
	nd.lastSnap = applied
	nd.mu.Unlock()
	if _, err := nd.st.CreateSnapshot(applied, cs, data); err != nil {
		return err
	}
	if applied > keepAfter {
		if err := nd.st.Compact(applied - keepAfter); err != nil && err != raft.ErrCompacted {
			return err
		}
	}
	return nil
}

func (nd *testNode) restore(snap *pb.Snapshot) {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	nd.kv = decodeKV(snap.Data)
	nd.applied = snap.GetMetadata().GetIndex()
	nd.lastSnap = nd.applied
	nd.cs = snap.GetMetadata().GetConfState()
	for k, ws := range nd.waiters {
		if _, ok := nd.kv[k]; ok {
			for _, w := range ws {
				close(w)
			}
			delete(nd.waiters, k)
		}
	}
}

// propose proposes key=value on nd and waits until nd has applied it.
func (nd *testNode) propose(key, value string, timeout time.Duration) bool {
	ch := make(chan struct{})
	nd.mu.Lock()
	if nd.kv[key] == value {
		nd.mu.Unlock()
		return true
	}
	nd.waiters[key] = append(nd.waiters[key], ch)
	n := nd.n
	nd.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := n.Propose(ctx, []byte(key+"="+value)); err != nil {
		return false
	}
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

func encodeKV(kv map[string]string) []byte {
	var b []byte
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(kv[k])))
		b = append(b, kv[k]...)
	}
	return b
}

func decodeKV(b []byte) map[string]string {
	kv := map[string]string{}
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		key := string(b[k : k+int(n)])
		b = b[k+int(n):]
		n, k = binary.Uvarint(b)
		kv[key] = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	return kv
}

func unmarshalConfChange(b []byte, cc *pb.ConfChange) error {
	return proto.Unmarshal(b, cc)
}

type cluster struct {
	t     *testing.T
	nw    *network
	nodes map[uint64]*testNode
	acked map[string]string
	mu    sync.Mutex
	seq   atomic.Int64
}

func (c *cluster) running() []*testNode {
	c.nw.mu.Lock()
	defer c.nw.mu.Unlock()
	var out []*testNode
	for id, nd := range c.nw.nodes {
		if !c.nw.partitioned[id] {
			out = append(out, nd)
		}
	}
	return out
}

func (c *cluster) leader() *testNode {
	for _, nd := range c.running() {
		if nd.node().Status().RaftState == raft.StateLeader {
			return nd
		}
	}
	return nil
}

func (c *cluster) checkFailures() {
	c.t.Helper()
	for _, nd := range c.nodes {
		nd.mu.Lock()
		err := nd.failed
		nd.mu.Unlock()
		if err != nil {
			c.t.Fatalf("node %d: %v", nd.id, err)
		}
	}
}

// load runs n proposals from concurrent clients; each is retried until
// acknowledged (applied on the node it was proposed to). The clients give
// up only when no proposal at all has been acknowledged for stallLimit.
func (c *cluster) load(n int, clients int) {
	c.t.Helper()
	var wg sync.WaitGroup
	work := make(chan int, n)
	for range n {
		work <- int(c.seq.Add(1))
	}
	close(work)
	var lastAck atomic.Int64 // UnixNano of the last acknowledgement
	lastAck.Store(time.Now().UnixNano())
	stalled := func() bool { return time.Since(time.Unix(0, lastAck.Load())) > stallLimit }
	for w := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range work {
				key, value := fmt.Sprintf("k%06d", i), fmt.Sprintf("v%06d-%s", i, strings.Repeat("x", i%64))
				for !stalled() {
					nodes := c.running()
					if len(nodes) == 0 {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					nd := nodes[rng.IntN(len(nodes))]
					if l := c.leader(); l != nil && rng.IntN(4) > 0 {
						nd = l
					}
					if nd.propose(key, value, 2*time.Second) {
						c.mu.Lock()
						c.acked[key] = value
						c.mu.Unlock()
						lastAck.Store(time.Now().UnixNano())
						break
					}
				}
			}
		})
	}
	wg.Wait()
	c.checkFailures()
	c.mu.Lock()
	defer c.mu.Unlock()
	if int(c.seq.Load()) != len(c.acked) {
		c.t.Fatalf("%d of %d proposals acknowledged, then none for %v", len(c.acked), c.seq.Load(), stallLimit)
	}
}

// converge waits until every running node has applied the same index,
// the leader's commit index. It fails only when no node's applied index
// has moved for stallLimit.
func (c *cluster) converge() {
	c.t.Helper()
	deadline := time.Now().Add(stallLimit)
	var seen uint64 // sum of the applied indexes: grows with any progress
	for {
		c.checkFailures()
		var idx []uint64
		var sum uint64
		for _, nd := range c.running() {
			nd.mu.Lock()
			idx = append(idx, nd.applied)
			sum += nd.applied
			nd.mu.Unlock()
		}
		if len(idx) > 0 && slices.Min(idx) == slices.Max(idx) {
			if l := c.leader(); l != nil && l.node().Status().GetCommit() == idx[0] {
				return
			}
		}
		if sum != seen {
			seen, deadline = sum, time.Now().Add(stallLimit)
		}
		if time.Now().After(deadline) {
			for _, nd := range c.running() {
				st := nd.node().Status()
				first, _ := nd.st.FirstIndex()
				last, _ := nd.st.LastIndex()
				nd.mu.Lock()
				c.t.Logf("node %d: applied %d snapsIn %d readyRuns %d inbox %d; raft %s; storage [%d,%d]", nd.id, nd.applied, nd.snapsIn, nd.readyRuns, len(nd.inbox), raft.DescribeHardState(st.HardState), first, last)
				nd.mu.Unlock()
				c.t.Logf("  status %+v", st.String())
			}
			c.t.Fatalf("no convergence: applied %v", idx)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitAgreedLeader waits until every running node names the same leader,
// one of them that is leader, and returns it. It waits for agreement on
// any leader, not on one chosen beforehand: a leader change the test did
// not cause (a node starved for an election timeout) is legitimate.
func (c *cluster) waitAgreedLeader() *testNode {
	c.t.Helper()
	deadline := time.Now().Add(stallLimit)
	for {
		nodes := c.running()
		var lead *testNode
		agreed := len(nodes) > 0
		for _, nd := range nodes {
			st := nd.node().Status()
			if st.Lead == 0 || st.Lead != nodes[0].node().Status().Lead {
				agreed = false
			}
			if st.RaftState == raft.StateLeader {
				lead = nd
			}
		}
		if agreed && lead != nil && lead.node().Status().Lead == lead.id {
			return lead
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the running nodes agreed on no leader in %v", stallLimit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rebuildFromDisk rebuilds a node's state machine from its storage alone:
// the snapshot, then the committed entries after it.
func rebuildFromDisk(t *testing.T, dir string) (map[string]string, uint64) {
	t.Helper()
	st, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	snap, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	kv := decodeKV(snap.Data)
	hs, _, err := st.InitialState()
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := snap.GetMetadata().GetIndex()+1, hs.GetCommit()+1
	for lo < hi {
		ents, err := st.Entries(lo, hi, 1<<20)
		if err != nil {
			t.Fatalf("%s: Entries(%d, %d): %v", dir, lo, hi, err)
		}
		for _, e := range ents {
			if e.GetType() != pb.EntryNormal || len(e.Data) == 0 {
				continue
			}
			k, v, ok := strings.Cut(string(e.Data), "=")
			if !ok {
				t.Fatalf("%s: entry %d: bad command %q", dir, e.GetIndex(), e.Data)
			}
			kv[k] = v
		}
		lo += uint64(len(ents))
	}
	return kv, hs.GetCommit()
}

func (c *cluster) waitLeader() *testNode {
	c.t.Helper()
	deadline := time.Now().Add(stallLimit)
	for time.Now().Before(deadline) {
		if l := c.leader(); l != nil {
			return l
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.t.Fatal("no leader")
	return nil
}

func (c *cluster) checkStateMachines() {
	c.t.Helper()
	var ref map[string]string
	var refID uint64
	for _, nd := range c.nodes {
		nd.mu.Lock()
		kv := maps.Clone(nd.kv)
		nd.mu.Unlock()
		if ref == nil {
			ref, refID = kv, nd.id
			continue
		}
		if !maps.Equal(ref, kv) {
			c.t.Fatalf("state machines of nodes %d and %d differ (%d vs %d keys)", refID, nd.id, len(ref), len(kv))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, v := range c.acked {
		if ref[k] != v {
			c.t.Fatalf("acknowledged %s=%s lost (found %q)", k, v, ref[k])
		}
	}
}

func TestCluster(t *testing.T) {
	start := time.Now()
	nw := &network{nodes: map[uint64]*testNode{}, partitioned: map[uint64]bool{}, snapsTo: map[uint64]int{}}
	c := &cluster{t: t, nw: nw, nodes: map[uint64]*testNode{}, acked: map[string]string{}}
	peers := []raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}}
	for _, p := range peers {
		nd := &testNode{t: t, id: p.ID, dir: t.TempDir(), nw: nw}
		c.nodes[p.ID] = nd
		nd.start(peers)
	}
	defer func() {
		for _, nd := range c.nodes {
			nw.mu.Lock()
			live := nw.nodes[nd.id] == nd
			nw.mu.Unlock()
			if live {
				nd.halt()
			}
		}
	}()
	const clients = 32
	leader := c.waitLeader()
	c.load(2500, clients)
	t.Logf("%v: 2500 acknowledged, leader %d", time.Since(start), leader.id)

	// Partition a follower; the others compact past its log.
	var lagger *testNode
	lead := c.waitAgreedLeader()
	for _, nd := range c.nodes {
		if nd != lead {
			lagger = nd
			break
		}
	}
	nw.cut(lagger.id, true)
	// What the follower holds: messages delivered before the cut may sit
	// in its inbox for a while on a busy machine, and every entry they
	// carry was in its sender's storage when it was sent (a node saves a
	// Ready's entries before it sends the Ready's messages), so the
	// longest log at the cut bounds what the follower can still append
	// (but for a few uncommitted entries a deposed leader dropped in that
	// moment, far inside the 2500 entries the others compact past).
	var lagLast uint64
	for _, nd := range c.nodes {
		last, _ := nd.st.LastIndex()
		lagLast = max(lagLast, last)
	}
	c.load(2500, clients)
	lagger.mu.Lock()
	lagApplied := lagger.applied
	lagger.mu.Unlock()
	if last, _ := lagger.st.LastIndex(); last > lagLast {
		lagLast = last
	}
	// The two running nodes apply everything first, so that each has taken
	// its snapshots (every snapEvery entries) and compacted behind them.
	c.converge()
	for _, nd := range c.running() {
		if first, _ := nd.st.FirstIndex(); first <= lagLast+1 {
			t.Fatalf("node %d did not compact past the lagging follower (first %d, follower's last index %d)", nd.id, first, lagLast)
		}
	}
	t.Logf("%v: 5000 acknowledged with node %d partitioned", time.Since(start), lagger.id)

	// Heal: the follower catches up through a snapshot.
	nw.cut(lagger.id, false)
	c.converge()
	lagger.mu.Lock()
	snaps, caughtUp := lagger.snapsIn, lagger.applied
	lagger.mu.Unlock()
	nw.mu.Lock()
	sent := nw.snapsTo[lagger.id]
	nw.mu.Unlock()
	if snaps == 0 || sent == 0 {
		t.Fatalf("node %d caught up without a snapshot (%d MsgSnap delivered, %d installed)", lagger.id, sent, snaps)
	}
	// The follower installed a snapshot past its own log, and its storage
	// now starts after it.
	lagSnap, err := lagger.st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if si := lagSnap.GetMetadata().GetIndex(); si <= lagLast {
		t.Fatalf("node %d: latest snapshot at %d, not past its partitioned log (last %d)", lagger.id, si, lagLast)
	}
	if first, _ := lagger.st.FirstIndex(); first <= lagLast+1 {
		t.Fatalf("node %d: storage still starts at %d after installing a snapshot", lagger.id, first)
	}
	if caughtUp <= lagApplied {
		t.Fatalf("node %d: applied %d, as when partitioned", lagger.id, caughtUp)
	}
	c.checkStateMachines()
	t.Logf("%v: node %d caught up through %d snapshot(s)", time.Since(start), lagger.id, snaps)

	// Leader change: stop the leader; the others elect a new one and go
	// on; the old leader restarts from disk and catches up.
	old := c.waitLeader()
	oldTerm := old.node().Status().GetTerm()
	old.halt()
	newLeader := c.waitAgreedLeader()
	newStatus := newLeader.node().Status()
	if newLeader.id == old.id || newStatus.Lead != newLeader.id || newStatus.GetTerm() <= oldTerm {
		t.Fatalf("leader did not change: was %d in term %d, now %d (lead %d) in term %d",
			old.id, oldTerm, newLeader.id, newStatus.Lead, newStatus.GetTerm())
	}
	c.load(2500, clients)
	old.start(nil)
	c.converge()
	c.checkStateMachines()
	// The old leader rejoined: all three nodes, it included, agree on a
	// leader (the new one, or one elected since).
	rejoined := c.waitAgreedLeader()
	if st := old.node().Status(); st.Lead != rejoined.id {
		t.Fatalf("old leader %d follows %d after restarting, the others %d", old.id, st.Lead, rejoined.id)
	}
	t.Logf("%v: leader %d -> %d, 7500 acknowledged, old leader restarted from disk", time.Since(start), old.id, newLeader.id)

	// Restart every node from disk mid-load: each restart waits for the
	// load to make progress since the previous one (or to have finished),
	// so the restarts are spread over the load however fast it runs.
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.load(2500, clients)
	}()
	ackedCount := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.acked)
	}
	waitProgress := func(n int) {
		t.Helper()
		from := ackedCount()
		deadline := time.Now().Add(stallLimit)
		for ackedCount() < from+n {
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("the load acknowledged %d proposals in %v", ackedCount()-from, stallLimit)
			}
		}
	}
	restartsMidLoad := 0
	for _, nd := range c.nodes {
		waitProgress(300)
		select {
		case <-done:
		default:
			restartsMidLoad++
		}
		nd.halt()
		nd.start(nil)
	}
	<-done
	c.converge()
	c.checkStateMachines()
	if len(c.acked) != 10000 {
		t.Fatalf("%d acknowledged", len(c.acked))
	}
	t.Logf("%v: 10000 acknowledged and identical on all nodes after rolling restarts (%d of 3 during the load); %d messages dropped",
		time.Since(start), restartsMidLoad, nw.dropped.Load())

	// Every node's state also rebuilds from its disk alone.
	for _, nd := range c.nodes {
		nd.halt()
		nd.start(nil)
	}
	c.converge()
	c.checkStateMachines()
	for _, nd := range c.nodes {
		nd.halt()
	}
	// Each node's disk alone (snapshot, then committed entries; no raft,
	// no network) holds every acknowledged write.
	for _, nd := range c.nodes {
		kv, commit := rebuildFromDisk(t, nd.dir)
		for k, v := range c.acked {
			if kv[k] != v {
				t.Fatalf("node %d: acknowledged %s=%s not on disk (found %q, commit %d)", nd.id, k, v, kv[k], commit)
			}
		}
		if len(kv) != len(c.acked) {
			t.Fatalf("node %d: %d keys on disk, %d acknowledged", nd.id, len(kv), len(c.acked))
		}
	}
	// Zero-copy pins: all released (explicitly, or by the collector for
	// entries raft read and dropped).
	runtime.GC()
	for _, nd := range c.nodes {
		if p, _ := nd.st.PinStats(); p != 0 {
			deadline := time.Now().Add(stallLimit)
			for p != 0 && time.Now().Before(deadline) {
				runtime.GC()
				time.Sleep(10 * time.Millisecond)
				p, _ = nd.st.PinStats()
			}
			if p != 0 {
				t.Fatalf("node %d: %d entries still pinned", nd.id, p)
			}
		}
	}
}
