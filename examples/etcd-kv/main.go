// Command etcd-kv is a raftexample-style replicated key-value store: three
// go.etcd.io/raft/v3 nodes on loopback, each persisting its log in spool
// storage (no WAL, no MemoryStorage) and sending AppendEntries payloads
// straight from the journal's mapped pages.
//
// With no flags it runs the whole cluster in one process, drives it
// through its HTTP API, stops a node, writes more, restarts the node from
// disk, checks every node holds every acknowledged write, prints what
// happened, and exits:
//
//	go run ./examples/etcd-kv
//
// With -serve the cluster keeps running for curl:
//
//	go run ./examples/etcd-kv -serve
//	curl -X PUT -d bar http://127.0.0.1:<port>/foo
//	curl http://127.0.0.1:<port>/foo
//
// Or one node per process, as raftexample does:
//
//	go run ./examples/etcd-kv -id 1 -cluster 127.0.0.1:12379,127.0.0.1:22379,127.0.0.1:32379 -http 127.0.0.1:12380
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
)

func main() {
	log.SetFlags(0)
	var (
		id      = flag.Uint64("id", 0, "run only this node (1-based index into -cluster)")
		cluster = flag.String("cluster", "", "comma-separated raft addresses of all nodes (with -id)")
		httpOn  = flag.String("http", "", "HTTP API address (with -id)")
		data    = flag.String("data", "", "data directory (default: a temporary one, removed at exit unless -id)")
		serve   = flag.Bool("serve", false, "keep the in-process cluster running after the demo")
		puts    = flag.Int("puts", 3000, "writes in the demo")
		verbose = flag.Bool("v", false, "raft logging")
	)
	flag.Parse()
	if !*verbose {
		raft.SetLogger(&raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)})
	}
	if *id != 0 {
		runOne(*id, *cluster, *httpOn, *data)
		return
	}
	dir := *data
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "spool-etcd-kv-"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
	}
	if err := demo(dir, *puts, *serve); err != nil {
		log.Printf("FAIL: %v", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
}

// runOne runs a single node of a multi-process cluster until interrupted.
func runOne(id uint64, cluster, httpAddr, dir string) {
	addrs := strings.Split(cluster, ",")
	if cluster == "" || id > uint64(len(addrs)) || httpAddr == "" {
		log.Fatal("-id needs -cluster (all raft addresses) and -http")
	}
	peers := map[uint64]string{}
	for i, a := range addrs {
		peers[uint64(i+1)] = a
	}
	if dir == "" {
		dir = fmt.Sprintf("spool-etcd-kv-%d", id)
	}
	ln, err := net.Listen("tcp", peers[id])
	if err != nil {
		log.Fatal(err)
	}
	nd, err := startNode(id, dir, peers, ln)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Addr: httpAddr, Handler: kvHandler(nd)}
	go func() {
		if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()
	log.Printf("node %d: raft on %s, HTTP on %s, data in %s (opened in %v)", id, peers[id], httpAddr, dir, nd.openDur)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	<-sig
	_ = srv.Close()
	nd.close()
}

// kvHandler serves GET /key (a local read) and PUT /key (replicated;
// returns once applied on this node).
func kvHandler(nd *kvNode) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := strings.TrimPrefix(r.URL.Path, "/")
		switch r.Method {
		case http.MethodGet:
			v, ok := nd.get(key)
			if !ok {
				http.Error(w, "not found", http.StatusNotFound)
				return
			}
			_, _ = io.WriteString(w, v)
		case http.MethodPut:
			b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
			defer cancel()
			if err := nd.put(ctx, key, string(b)); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, "GET or PUT", http.StatusMethodNotAllowed)
		}
	})
}

// member is one node of the in-process cluster with its HTTP server.
type member struct {
	id       uint64
	dir      string
	raftAddr string
	nd       *kvNode
	srv      *http.Server
	url      string
}

func (m *member) start(peers map[uint64]string) error {
	ln, err := net.Listen("tcp", m.raftAddr)
	if err != nil {
		return err
	}
	nd, err := startNode(m.id, m.dir, peers, ln)
	if err != nil {
		return err
	}
	m.nd = nd
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	m.url = "http://" + hl.Addr().String()
	m.srv = &http.Server{Handler: kvHandler(nd)}
	go func() { _ = m.srv.Serve(hl) }()
	return nil
}

func (m *member) stop() {
	_ = m.srv.Close()
	m.nd.close()
}

// demoTimeout bounds the whole demo: every retry and wait stops by then. It
// is a failure guard for a stuck cluster, far above what a busy machine
// needs, not a pace the demo must keep.
const demoTimeout = 5 * time.Minute

func demo(dir string, n int, serve bool) error {
	deadline := time.Now().Add(demoTimeout)
	peers := map[uint64]string{}
	members := map[uint64]*member{}
	for id := uint64(1); id <= 3; id++ {
		// Reserve a loopback port per node for raft traffic.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		peers[id] = ln.Addr().String()
		_ = ln.Close()
		members[id] = &member{id: id, dir: filepath.Join(dir, fmt.Sprintf("node%d", id)), raftAddr: peers[id]}
	}
	for id := uint64(1); id <= 3; id++ {
		if err := members[id].start(peers); err != nil {
			return err
		}
		fmt.Printf("node %d: raft %s, HTTP %s, data %s\n", id, peers[id], members[id].url, members[id].dir)
	}
	defer func() {
		for _, m := range members {
			if m.nd != nil {
				m.stop()
			}
		}
	}()
	leader, err := waitLeader(members)
	if err != nil {
		return err
	}
	fmt.Printf("leader: node %d\n", leader)

	acked := map[string]string{}
	var mu sync.Mutex
	write := func(from, count int, targets []*member) (time.Duration, error) {
		start := time.Now()
		var wg sync.WaitGroup
		var failed atomic.Int64
		next := atomic.Int64{}
		next.Store(int64(from))
		for c := range 16 {
			wg.Go(func() {
				client := &http.Client{Timeout: 5 * time.Second}
				for {
					i := int(next.Add(1)) - 1
					if i >= from+count {
						return
					}
					key, val := fmt.Sprintf("key-%05d", i), fmt.Sprintf("value-%05d-%s", i, strings.Repeat("*", i%100))
					ok := false
					for attempt := 0; attempt < 20 && !ok && time.Now().Before(deadline); attempt++ {
						m := targets[(c+attempt)%len(targets)]
						req, _ := http.NewRequest(http.MethodPut, m.url+"/"+key, strings.NewReader(val))
						if resp, err := client.Do(req); err == nil {
							ok = resp.StatusCode == http.StatusNoContent
							resp.Body.Close()
						}
						if !ok {
							time.Sleep(50 * time.Millisecond)
						}
					}
					if !ok {
						failed.Add(1)
						continue
					}
					mu.Lock()
					acked[key] = val
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if f := failed.Load(); f > 0 {
			return 0, fmt.Errorf("%d writes not acknowledged", f)
		}
		return time.Since(start), nil
	}
	all := []*member{members[1], members[2], members[3]}
	d, err := write(0, n, all)
	if err != nil {
		return err
	}
	fmt.Printf("%d PUTs through 3 nodes: %v (%.0f/s)\n", n, d.Round(time.Millisecond), float64(n)/d.Seconds())

	// Stop a follower, write more, restart it from disk.
	var victim *member
	for _, id := range []uint64{1, 2, 3} {
		if !members[id].nd.isLeader() {
			victim = members[id]
			break
		}
	}
	victim.stop()
	fmt.Printf("stopped node %d\n", victim.id)
	var rest []*member
	for _, m := range all {
		if m != victim {
			rest = append(rest, m)
		}
	}
	d, err = write(n, n/2, rest)
	if err != nil {
		return err
	}
	fmt.Printf("%d PUTs with node %d down: %v\n", n/2, victim.id, d.Round(time.Millisecond))
	if err := victim.start(peers); err != nil {
		return err
	}
	fmt.Printf("restarted node %d from disk: storage opened and raft restarted in %v (no log replay)\n", victim.id, victim.nd.openDur.Round(time.Microsecond))

	// Every node converges on every acknowledged write.
	for {
		same := true
		var ref map[string]string
		for _, m := range all {
			_, _, kv := m.nd.state()
			if ref == nil {
				ref = kv
			} else if !maps.Equal(ref, kv) {
				same = false
			}
		}
		mu.Lock()
		lost := 0
		for k, v := range acked {
			if ref[k] != v {
				lost++
			}
		}
		mu.Unlock()
		if same && lost == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nodes did not converge within %v (same %v, %d acknowledged writes missing)", demoTimeout, same, lost)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Read back through every node's HTTP API.
	getter := &http.Client{Timeout: 5 * time.Second}
	for _, m := range all {
		resp, err := getter.Get(m.url + "/key-00042")
		if err != nil {
			return err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != acked["key-00042"] {
			return fmt.Errorf("node %d: GET key-00042 = %q", m.id, b)
		}
	}
	if k := victim.nd.snapsIn.Load(); k > 0 {
		fmt.Printf("node %d caught up through %d snapshot(s): it was behind the leader's compaction point\n", victim.id, k)
	} else {
		fmt.Printf("node %d caught up from the leader's log\n", victim.id)
	}
	for _, m := range all {
		applied, keys, _ := m.nd.state()
		first, _ := m.nd.st.FirstIndex()
		last, _ := m.nd.st.LastIndex()
		pinned, _ := m.nd.st.PinStats()
		fmt.Printf("node %d: applied %d, %d keys, log [%d, %d] on disk, %d entries pinned\n", m.id, applied, keys, first, last, pinned)
	}
	fmt.Printf("OK: %d acknowledged writes on all 3 nodes\n", len(acked))
	if serve {
		fmt.Println("serving; try: curl -X PUT -d bar", members[1].url+"/foo", "; curl", members[2].url+"/foo", "(Ctrl-C to stop)")
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt)
		<-sig
	}
	return nil
}

func waitLeader(members map[uint64]*member) (uint64, error) {
	deadline := time.Now().Add(2 * time.Minute) // a failure guard
	for time.Now().Before(deadline) {
		for id, m := range members {
			if m.nd.isLeader() {
				return id, nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, errors.New("no leader elected")
}
