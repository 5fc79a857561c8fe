// Command durablediff runs the durable StoreLogs shapes of issue 14 (64 ×
// 128 B, 1 × 1 KiB and 4 × 256 KiB per call) with one methodology knob
// changed at a time: how many calls and warm-up calls, whether each store
// runs in its own process, interleaved or one store's repetitions in a row,
// spool's segment size, a log written (and reopened) before the timed
// calls, CPU-bound goroutines beside the store. The floors (4 KiB in-place
// and fallocated write + fdatasync, 1 MiB write + fdatasync) are measured
// in the same run, as a pseudo-store. It is how bench/README.md's
// "Methodology" section found which difference between the bench suite
// and an independent measurement moves spool's figures.
//
//	cd bench && go run ./cmd/durablediff -shape 1k -stores spool,raft-wal -reps 3
//
// One line per cell goes to standard error; the medians per store go to
// standard output.
package main

import (
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/raft"

	"github.com/spoolhq/spool/bench/catalog"
	"github.com/spoolhq/spool/bench/machine"
	"github.com/spoolhq/spool/bench/store"
	"github.com/spoolhq/spool/raftadapter/hashicorp"
)

const envChild = "DURABLEDIFF_CELL"

// floorStore is the pseudo-store whose cells measure the machine floors.
const floorStore = "floor"

// cell is one store, one repetition, with every knob.
type cell struct {
	Store  string `json:"store"`
	Rep    int    `json:"rep"`
	Shape  string `json:"shape"`
	Calls  int    `json:"calls"`
	Warmup int    `json:"warmup"`
	SegMiB int    `json:"seg_mib"`
	PreMiB int    `json:"pre_mib"`
	Reopen bool   `json:"reopen"`
	Hog    int    `json:"hog"`
	Dir    string `json:"dir"`
}

// result is what a cell measured; the floor cell fills the Floor fields.
type result struct {
	Cell        cell    `json:"cell"`
	P50, P99    float64 // µs
	EntriesPerS float64
	MBps        float64 // 10^6 bytes of entry data per second
	InPlaceP50  float64 // µs
	FallocP50   float64 // µs
	SeqSyncMBps float64
	SeqSyncP50  float64 // µs
	// WriteKiBPerCall is /proc/self/io write_bytes (what the process
	// dirtied, by page-cache folio, for write(2) and mapped stores alike)
	// per timed call, in KiB; MinFltPerCall the minor faults per call.
	WriteKiBPerCall float64
	MinFltPerCall   float64
	Err             string `json:",omitempty"`
	Seconds         float64
	WarmupMillis    float64
}

func main() {
	if os.Getenv(envChild) != "" {
		var c cell
		if err := json.Unmarshal([]byte(os.Getenv(envChild)), &c); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		_ = json.NewEncoder(os.Stdout).Encode(runCell(c))
		return
	}
	var (
		stores  = flag.String("stores", "spool,raft-wal,etcd-wal", "columns (catalog names), plus \"floor\" for the machine floors; NAME@N is column NAME with -pre-mib N, so that several prefills run interleaved in one run")
		shape   = flag.String("shape", "1k", "128x64, 1k or 256kx4")
		calls   = flag.Int("calls", 0, "timed calls (0: 1000 for 128x64, 2000 for 1k, 256 for 256kx4, the bench suite's default scale)")
		warmup  = flag.Int("warmup", -1, "untimed calls first (-1: the bench suite's min(calls/10, 20))")
		reps    = flag.Int("reps", 3, "repetitions")
		inproc  = flag.Bool("inproc", false, "run every cell in this process instead of one child process per cell")
		grouped = flag.Bool("grouped", false, "run each store's repetitions in a row instead of interleaving the stores")
		segMiB  = flag.Int("seg-mib", 0, "spool's segment size in MiB (0: its default)")
		preMiB  = flag.Int("pre-mib", 0, "MiB of 1 KiB entries written (256 per call) before the timed calls")
		reopen  = flag.Bool("reopen", false, "close and reopen the store after -pre-mib")
		hog     = flag.Int("hog", 0, "CPU-bound goroutines running in the cell's process")
		work    = flag.String("work", filepath.Join("results", "tmp", "work", "durablediff"), "directory the stores write to")
	)
	flag.Parse()
	per := map[string]int{"128x64": 1000, "1k": 2000, "256kx4": 256}
	if _, ok := per[*shape]; !ok {
		fmt.Fprintln(os.Stderr, "durablediff: unknown shape", *shape)
		os.Exit(2)
	}
	if *calls == 0 {
		*calls = per[*shape]
	}
	if *warmup < 0 {
		*warmup = min(max(*calls/10, 1), 20)
	}
	names := strings.Split(*stores, ",")
	var cells []cell
	base := cell{Shape: *shape, Calls: *calls, Warmup: *warmup, SegMiB: *segMiB, PreMiB: *preMiB, Reopen: *reopen, Hog: *hog}
	if *grouped {
		for _, n := range names {
			for rep := range *reps {
				c := base
				c.Store, c.Rep = n, rep
				cells = append(cells, c)
			}
		}
	} else {
		for rep := range *reps {
			rot := append(slices.Clone(names[rep%len(names):]), names[:rep%len(names)]...)
			for _, n := range rot {
				c := base
				c.Store, c.Rep = n, rep
				cells = append(cells, c)
			}
		}
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	byStore := map[string][]result{}
	for i, c := range cells {
		if name, pre, ok := strings.Cut(c.Store, "@"); ok && name != "" {
			if _, err := fmt.Sscanf(pre, "%d", &c.PreMiB); err != nil {
				fmt.Fprintf(os.Stderr, "durablediff: bad prefill in %q\n", c.Store)
				os.Exit(2)
			}
		}
		c.Dir = filepath.Join(*work, fmt.Sprintf("%d-%s", i, strings.ReplaceAll(c.Store, "/", "_")))
		_ = os.RemoveAll(c.Dir)
		if err := os.MkdirAll(c.Dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var r result
		if *inproc {
			r = runCell(c)
		} else {
			r = runChild(exe, c)
		}
		_ = os.RemoveAll(c.Dir)
		fmt.Fprintf(os.Stderr, "rep %d %-12s p50 %7.0f µs  p99 %7.0f µs  %9.0f entries/s  %6.0f MB/s  %6.1f KiB dirtied/call  %5.1f minflt/call  %s%s\n",
			c.Rep, c.Store, r.P50, r.P99, r.EntriesPerS, r.MBps, r.WriteKiBPerCall, r.MinFltPerCall, floorText(r), r.Err)
		byStore[c.Store] = append(byStore[c.Store], r)
	}
	fmt.Printf("shape %s, %d calls (+%d warm-up), %d reps, inproc %v, grouped %v, seg %d MiB, pre %d MiB, reopen %v, hog %d\n",
		*shape, *calls, *warmup, *reps, *inproc, *grouped, *segMiB, *preMiB, *reopen, *hog)
	for _, n := range names {
		rs := byStore[n]
		med := func(f func(result) float64) float64 {
			var v []float64
			for _, r := range rs {
				v = append(v, f(r))
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		if n == floorStore {
			fmt.Printf("%-12s in-place 4K p50 %4.0f µs, fallocated 4K p50 %4.0f µs, 1 MiB write+fdatasync %5.0f MB/s (p50 %5.0f µs)\n",
				n, med(func(r result) float64 { return r.InPlaceP50 }), med(func(r result) float64 { return r.FallocP50 }),
				med(func(r result) float64 { return r.SeqSyncMBps }), med(func(r result) float64 { return r.SeqSyncP50 }))
			continue
		}
		fmt.Printf("%-12s p50 %6.0f µs  p99 %6.0f µs  %8.0f entries/s  %6.0f MB/s  %6.1f KiB dirtied/call  %5.1f minflt/call\n", n,
			med(func(r result) float64 { return r.P50 }), med(func(r result) float64 { return r.P99 }),
			med(func(r result) float64 { return r.EntriesPerS }), med(func(r result) float64 { return r.MBps }),
			med(func(r result) float64 { return r.WriteKiBPerCall }), med(func(r result) float64 { return r.MinFltPerCall }))
	}
}

func floorText(r result) string {
	if r.Cell.Store != floorStore {
		return ""
	}
	return fmt.Sprintf("in-place %0.f µs, fallocated %0.f µs, 1 MiB sync %0.f MB/s ", r.InPlaceP50, r.FallocP50, r.SeqSyncMBps)
}

func runChild(exe string, c cell) result {
	b, _ := json.Marshal(c)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envChild+"="+string(b))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var r result
	if err != nil {
		return result{Cell: c, Err: err.Error()}
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return result{Cell: c, Err: err.Error()}
	}
	return r
}

func runCell(c cell) (r result) {
	t0 := time.Now()
	r.Cell = c
	defer func() { r.Seconds = time.Since(t0).Seconds() }()
	stop := startHog(c.Hog)
	defer stop()
	if c.Store == floorStore {
		if err := runFloors(c, &r); err != nil {
			r.Err = err.Error()
		}
		return r
	}
	if err := runAppend(c, &r); err != nil {
		r.Err = err.Error()
	}
	return r
}

func runFloors(c cell, r *result) error {
	n := 2000
	in, err := machine.SyncLatency(filepath.Join(c.Dir, "inplace"), machine.InPlace, n)
	if err != nil {
		return err
	}
	fa, err := machine.SyncLatency(filepath.Join(c.Dir, "falloc"), machine.Fallocated, n)
	if err != nil {
		return err
	}
	mbps, lat, err := machine.SeqWriteSync(filepath.Join(c.Dir, "seq"), 256<<20)
	if err != nil {
		return err
	}
	r.InPlaceP50 = us(in[len(in)/2])
	r.FallocP50 = us(fa[len(fa)/2])
	r.SeqSyncMBps = mbps * (1 << 20) / 1e6
	r.SeqSyncP50 = us(lat[len(lat)/2])
	return nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func open(c cell) (store.Store, error) {
	c.Store, _, _ = strings.Cut(c.Store, "@")
	if c.Store == "spool" && c.SegMiB > 0 {
		return hashicorp.Open(c.Dir, &hashicorp.Options{JournalOptions: hashicorp.JournalOptions{SegmentSize: int64(c.SegMiB) << 20}})
	}
	spec, ok := catalog.Default().Lookup(c.Store)
	if !ok {
		return nil, fmt.Errorf("unknown store %q", c.Store)
	}
	return spec.Open(c.Dir)
}

// writer stores entries of one size, perCall per StoreLogs.
type writer struct {
	s    store.Store
	buf  []byte
	size int
	logs []*raft.Log
	next uint64
}

func newWriter(s store.Store, size, perCall int) (*writer, error) {
	last, err := s.LastIndex()
	if err != nil {
		return nil, err
	}
	w := &writer{s: s, buf: make([]byte, max(4<<20, 4*size)), size: size, next: last + 1}
	rand.NewChaCha8([32]byte{7}).Read(w.buf)
	for range perCall {
		w.logs = append(w.logs, &raft.Log{Term: 1, Type: raft.LogCommand, AppendedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	}
	return w, nil
}

func (w *writer) call() error {
	span := uint64(len(w.buf) - w.size)
	for _, l := range w.logs {
		off := (w.next * 4099) % span
		l.Index, l.Data = w.next, w.buf[off:off+uint64(w.size)]
		w.next++
	}
	return w.s.StoreLogs(w.logs)
}

func runAppend(c cell, r *result) error {
	sizes := map[string][2]int{"128x64": {128, 64}, "1k": {1024, 1}, "256kx4": {256 << 10, 4}}
	size, per := sizes[c.Shape][0], sizes[c.Shape][1]
	s, err := open(c)
	if err != nil {
		return err
	}
	if c.PreMiB > 0 {
		pw, err := newWriter(s, 1024, 256)
		if err != nil {
			s.Close()
			return err
		}
		for written := 0; written < c.PreMiB<<20; written += 256 << 10 {
			if err := pw.call(); err != nil {
				s.Close()
				return err
			}
		}
		if c.Reopen {
			if err := s.Close(); err != nil {
				return err
			}
			if s, err = open(c); err != nil {
				return err
			}
		}
	}
	defer s.Close()
	w, err := newWriter(s, size, per)
	if err != nil {
		return err
	}
	w0 := time.Now()
	for range c.Warmup {
		if err := w.call(); err != nil {
			return err
		}
	}
	r.WarmupMillis = float64(time.Since(w0)) / float64(time.Millisecond)
	lat := make([]time.Duration, c.Calls)
	wb0, flt0 := ioWriteBytes(), minorFaults()
	t0 := time.Now()
	for i := range lat {
		c0 := time.Now()
		if err := w.call(); err != nil {
			return err
		}
		lat[i] = time.Since(c0)
	}
	d := time.Since(t0)
	r.WriteKiBPerCall = float64(ioWriteBytes()-wb0) / 1024 / float64(c.Calls)
	r.MinFltPerCall = float64(minorFaults()-flt0) / float64(c.Calls)
	slices.Sort(lat)
	r.P50 = us(lat[len(lat)/2])
	r.P99 = us(lat[min(len(lat)*99/100, len(lat)-1)])
	r.EntriesPerS = float64(c.Calls*per) / d.Seconds()
	r.MBps = float64(c.Calls*per*size) / 1e6 / d.Seconds()
	return nil
}

// ioWriteBytes returns write_bytes of /proc/self/io, 0 when unreadable.
func ioWriteBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		var v int64
		if _, err := fmt.Sscanf(line, "write_bytes: %d", &v); err == nil {
			return v
		}
	}
	return 0
}

func minorFaults() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Minflt
}

// startHog starts n goroutines hashing a buffer until the returned
// function is called.
func startHog(n int) func() {
	if n == 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			buf := make([]byte, 64<<10)
			for {
				select {
				case <-done:
					return
				default:
					sha256.Sum256(buf)
				}
			}
		})
	}
	return func() { close(done); wg.Wait() }
}
