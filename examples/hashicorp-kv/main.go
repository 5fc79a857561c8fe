// Command hashicorp-kv is a replicated key-value store on
// github.com/hashicorp/raft with spool storage: three raft nodes in one
// process, talking raft.NetworkTransport over loopback TCP (127.0.0.1,
// ports chosen free at run time), each keeping its log, stable keys and
// snapshots in a raftadapter/hashicorp Store.
//
//	go run ./examples/hashicorp-kv
//
// It writes keys through the leader, checks that every node holds them,
// kills the leader, shows a new one elected and the cluster carrying on
// with writes, restarts the old leader from its directory, checks that the
// three nodes agree on every acknowledged write, prints what it did, and
// exits (status 1 on any failure). Data lives in a temporary directory,
// removed at exit, unless -data names one.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/spoolhq/spool/raftadapter/hashicorp"
)

func main() {
	log.SetFlags(0)
	var (
		keys    = flag.Int("keys", 5000, "keys written before the leader is killed (half as many after)")
		data    = flag.String("data", "", "data directory (default: a temporary one, removed at exit)")
		verbose = flag.Bool("v", false, "raft logging on stderr")
	)
	flag.Parse()
	dir := *data
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "spool-hashicorp-kv-"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	if err := demo(os.Stdout, dir, *keys, *verbose); err != nil {
		fmt.Printf("FAIL: %v\n", err)
		if *data == "" {
			os.RemoveAll(dir)
		}
		os.Exit(1)
	}
}

// ---- the state machine ----

// kvFSM is a map from keys to values. A command is a uvarint key length,
// the key, and the value.
type kvFSM struct {
	mu      sync.Mutex
	kv      map[string]string
	applied uint64 // raft index of the last entry applied
}

func newKV() *kvFSM { return &kvFSM{kv: map[string]string{}} }

func encodeSet(key, value string) []byte {
	b := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(key)+len(value)), uint64(len(key)))
	return append(append(b, key...), value...)
}

// Apply implements raft.FSM.
func (f *kvFSM) Apply(l *raft.Log) any {
	n, k := binary.Uvarint(l.Data)
	if k <= 0 || n > uint64(len(l.Data)-k) {
		return fmt.Errorf("bad command at index %d", l.Index)
	}
	key := string(l.Data[k : k+int(n)])
	value := string(l.Data[k+int(n):])
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kv[key] = value
	f.applied = l.Index
	return nil
}

// Snapshot implements raft.FSM: a copy of the map, written as JSON by
// Persist into the snapshot store's sink (a spool snapshot file).
func (f *kvFSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return kvSnapshot(maps.Clone(f.kv)), nil
}

// Restore implements raft.FSM.
func (f *kvFSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	kv := map[string]string{}
	if err := json.NewDecoder(rc).Decode(&kv); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kv = kv
	return nil
}

func (f *kvFSM) state() (applied uint64, kv map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applied, maps.Clone(f.kv)
}

type kvSnapshot map[string]string

func (s kvSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(map[string]string(s)); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s kvSnapshot) Release() {}

// ---- one node ----

type node struct {
	id     raft.ServerID
	addr   string // 127.0.0.1:port, fixed for the node's life
	dir    string
	logger hclog.Logger

	store *hashicorp.Store
	trans *raft.NetworkTransport
	fsm   *kvFSM
	raft  *raft.Raft

	opened time.Duration // hashicorp.Open + raft.NewRaft
}

func (n *node) start(bootstrap *raft.Configuration) error {
	t0 := time.Now()
	var err error
	if n.store, err = hashicorp.Open(n.dir, &hashicorp.Options{Logger: n.logger}); err != nil {
		return err
	}
	if n.trans, err = raft.NewTCPTransportWithLogger(n.addr, nil, 3, 2*time.Second, n.logger); err != nil {
		_ = n.store.Close()
		return err
	}
	conf := raft.DefaultConfig()
	conf.LocalID = n.id
	conf.Logger = n.logger
	// Timeouts a busy machine does not trip: a heartbeat that misses
	// 300 ms because the process did not get a CPU would start elections
	// and leader changes the demo does not need.
	conf.HeartbeatTimeout = time.Second
	conf.ElectionTimeout = time.Second
	conf.LeaderLeaseTimeout = 500 * time.Millisecond
	conf.CommitTimeout = 5 * time.Millisecond
	conf.SnapshotThreshold = 2048 // snapshots and log compaction happen during the demo
	conf.SnapshotInterval = 500 * time.Millisecond
	conf.TrailingLogs = 1024
	if bootstrap != nil {
		if err := raft.BootstrapCluster(conf, n.store, n.store, n.store.Snapshots(), n.trans, *bootstrap); err != nil {
			n.close()
			return err
		}
	}
	n.fsm = newKV()
	if n.raft, err = raft.NewRaft(conf, n.fsm, n.store, n.store, n.store.Snapshots(), n.trans); err != nil {
		n.close()
		return err
	}
	n.opened = time.Since(t0)
	return nil
}

// close stops raft, then the transport (its connections included), then
// the store.
func (n *node) close() {
	if n.raft != nil {
		_ = n.raft.Shutdown().Error()
		n.raft = nil
	}
	if n.trans != nil {
		// Close alone stops the listener but leaves pooled connections
		// (and the peers' goroutines serving them) open.
		n.trans.CloseStreams()
		_ = n.trans.Close()
		n.trans = nil
	}
	if n.store != nil {
		_ = n.store.Close()
		n.store = nil
	}
}

func (n *node) running() bool { return n.raft != nil }

func (n *node) logRange() (first, last uint64) {
	first, _ = n.store.FirstIndex()
	last, _ = n.store.LastIndex()
	return first, last
}

// ---- the demo ----

type cluster struct {
	nodes []*node
	out   io.Writer
}

// waitGuard bounds each wait of the demo (a leader, an agreement, a
// command's commit): a failure guard for a stuck cluster, far above what a
// busy machine needs, not a pace the demo must keep.
const waitGuard = 2 * time.Minute

func (c *cluster) leader(timeout time.Duration) (*node, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, n := range c.nodes {
			if n.running() && n.raft.State() == raft.Leader {
				return n, nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, errors.New("no leader elected")
}

// write sets keys [from, to) through the leader, 256 in flight, and
// records the acknowledged writes in acked. A write that fails (the
// leader was lost) is retried through the new leader, up to 5 times.
func (c *cluster) write(from, to int, acked map[string]string) error {
	pending := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		pending = append(pending, i)
	}
	for round := 0; len(pending) > 0; round++ {
		if round == 5 {
			return fmt.Errorf("%d writes not acknowledged after %d attempts", len(pending), round)
		}
		l, err := c.leader(waitGuard)
		if err != nil {
			return err
		}
		var failed []int
		for lo := 0; lo < len(pending); lo += 256 {
			batch := pending[lo:min(lo+256, len(pending))]
			futures := make([]raft.ApplyFuture, len(batch))
			for j, i := range batch {
				futures[j] = l.raft.Apply(encodeSet(key(i), value(i)), waitGuard)
			}
			for j, f := range futures {
				if err := f.Error(); err != nil {
					failed = append(failed, batch[j])
					continue
				}
				if resp, ok := f.Response().(error); ok {
					return resp
				}
				acked[key(batch[j])] = value(batch[j])
			}
		}
		pending = failed
	}
	return nil
}

func key(i int) string   { return fmt.Sprintf("key-%06d", i) }
func value(i int) string { return fmt.Sprintf("value-%06d-%s", i, bytes.Repeat([]byte{'*'}, i%64)) }

// agree waits until every running node has applied the leader's last
// index and holds the same map, which has every acknowledged write.
func (c *cluster) agree(acked map[string]string, timeout time.Duration) (map[string]string, error) {
	l, err := c.leader(waitGuard)
	if err != nil {
		return nil, err
	}
	if err := l.raft.Barrier(waitGuard).Error(); err != nil {
		return nil, fmt.Errorf("barrier: %w", err)
	}
	want, ref := l.fsm.state()
	deadline := time.Now().Add(timeout)
	for _, n := range c.nodes {
		if !n.running() {
			continue
		}
		for {
			applied, kv := n.fsm.state()
			if applied >= want && maps.Equal(kv, ref) {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%s: applied %d, %d keys; leader %s applied %d, %d keys", n.id, applied, len(kv), l.id, want, len(ref))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	for k, v := range acked {
		if ref[k] != v {
			return nil, fmt.Errorf("acknowledged write %s lost", k)
		}
	}
	return ref, nil
}

func (c *cluster) report(label string) {
	fmt.Fprintf(c.out, "%s\n", label)
	for _, n := range c.nodes {
		if !n.running() {
			fmt.Fprintf(c.out, "  %s  %-15s  down\n", n.id, n.addr)
			continue
		}
		applied, kv := n.fsm.state()
		first, last := n.logRange()
		snaps, _ := n.store.Snapshots().List()
		snap := "none"
		if len(snaps) > 0 {
			snap = fmt.Sprintf("at %d", snaps[0].Index)
		}
		fmt.Fprintf(c.out, "  %s  %-15s  %-9s applied %6d, %5d keys, log [%d, %d] on disk, snapshot %s\n",
			n.id, n.addr, n.raft.State(), applied, len(kv), first, last, snap)
	}
}

func freeLoopbackPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

func demo(out io.Writer, dir string, keys int, verbose bool) error {
	start := time.Now()
	step := func(format string, args ...any) {
		fmt.Fprintf(out, "[%6.2fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	logOut := io.Discard
	if verbose {
		logOut = os.Stderr
	}
	c := &cluster{out: out}
	var servers []raft.Server
	for i := 1; i <= 3; i++ {
		addr, err := freeLoopbackPort()
		if err != nil {
			return err
		}
		id := raft.ServerID(fmt.Sprintf("node%d", i))
		c.nodes = append(c.nodes, &node{id: id, addr: addr, dir: filepath.Join(dir, string(id)),
			logger: hclog.New(&hclog.LoggerOptions{Name: string(id), Output: logOut, Level: hclog.Info})})
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: id, Address: raft.ServerAddress(addr)})
	}
	defer func() {
		for _, n := range c.nodes {
			n.close()
		}
	}()
	conf := raft.Configuration{Servers: servers}
	for _, n := range c.nodes {
		if err := n.start(&conf); err != nil {
			return fmt.Errorf("start %s: %w", n.id, err)
		}
		step("%s: raft on %s (TCP), spool store in %s", n.id, n.addr, n.dir)
	}
	l, err := c.leader(waitGuard)
	if err != nil {
		return err
	}
	step("%s elected leader", l.id)

	acked := map[string]string{}
	t0 := time.Now()
	if err := c.write(0, keys, acked); err != nil {
		return err
	}
	d := time.Since(t0)
	step("wrote %d keys through %s in %v (%.0f writes/s, each durable on a quorum)", keys, l.id, d.Round(time.Millisecond), float64(keys)/d.Seconds())
	if _, err := c.agree(acked, waitGuard); err != nil {
		return err
	}
	c.report(fmt.Sprintf("[%6.2fs] all 3 nodes agree:", time.Since(start).Seconds()))

	// Kill the leader: raft, its transport and its store go away at once.
	old := l
	oldFirst, oldLast := old.logRange()
	old.close()
	step("killed leader %s: raft shut down, listener closed, store closed (log [%d, %d] on disk)", old.id, oldFirst, oldLast)
	t0 = time.Now()
	l, err = c.leader(waitGuard)
	if err != nil {
		return err
	}
	step("%s elected leader after %v", l.id, time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	if err := c.write(keys, keys+keys/2, acked); err != nil {
		return err
	}
	step("wrote %d more keys through %s in %v with %s down", keys/2, l.id, time.Since(t0).Round(time.Millisecond), old.id)

	// Restart the old leader from its directory, on the same address.
	if err := old.start(nil); err != nil {
		return fmt.Errorf("restart %s: %w", old.id, err)
	}
	f, last := old.logRange()
	step("restarted %s from disk in %v (store opened without reading the log, raft restored its snapshot): log [%d, %d] found",
		old.id, old.opened.Round(time.Microsecond), f, last)
	kv, err := c.agree(acked, waitGuard)
	if err != nil {
		return err
	}
	c.report(fmt.Sprintf("[%6.2fs] all 3 nodes agree again:", time.Since(start).Seconds()))
	step("OK: %d keys, every one of the %d acknowledged writes on all 3 nodes", len(kv), len(acked))
	return nil
}
