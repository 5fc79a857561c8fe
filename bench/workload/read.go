package workload

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hashicorp/raft"

	"github.com/spoolhq/spool/bench/store"
)

// readMetrics describes a read workload's figures. A random read's time
// per GetLog is a headline figure, compared with the machine's random 1 KiB
// copy out of a mapping as large as the log (randcopy_ns): the least a read
// of an entry at a random place in a log larger than the CPU caches costs.
func readMetrics(random bool) []Metric {
	ns := Metric{Key: "ns_per_op", Label: "ns/op", Better: Lower}
	if random {
		ns.Headline, ns.Ratios, ns.Limit = true, true, "randcopy_ns"
	}
	return []Metric{
		{Key: "entries_per_s", Label: "entries/s", Better: Higher, Headline: true, Ratios: true},
		{Key: "mib_per_s", Label: "MiB/s", Better: Higher, Limit: "memcpy4k_mibps", Headline: true, Ratios: true},
		{Key: "allocs_per_op", Label: "allocs/op", Better: Lower, Headline: true},
		{Key: "bytes_per_op", Label: "B alloc/op", Better: Lower, Headline: true},
		ns,
		{Key: "entries", Label: "entries read", Better: Neutral},
	}
}

func readSeq(s Scale) Workload {
	return Workload{
		Name:    "read-seq",
		Title:   fmt.Sprintf("sequential GetLog over a %d MiB log of 1 KiB entries (warm cache)", s.ReadMiB),
		Needs:   store.CapLogStore,
		Fixture: WriteName(s.ReadMiB),
		Metrics: readMetrics(false),
		Run: func(env *Env) (Result, error) {
			return runRead(env, func(first, last uint64) []uint64 { return nil })
		},
	}
}

func readRand(s Scale) Workload {
	return Workload{
		Name:    "read-rand",
		Title:   fmt.Sprintf("random GetLog over a %d MiB log of 1 KiB entries (warm cache)", s.ReadMiB),
		Needs:   store.CapLogStore,
		Fixture: WriteName(s.ReadMiB),
		Metrics: readMetrics(true),
		Run: func(env *Env) (Result, error) {
			return runRead(env, func(first, last uint64) []uint64 {
				rng := rand.New(rand.NewPCG(1, 2))
				idx := make([]uint64, env.Scale.RandReads)
				for i := range idx {
					idx[i] = first + rng.Uint64N(last-first+1)
				}
				return idx
			})
		},
	}
}

// runRead opens the fixture and reads it: every entry in order when order
// returns nil, else the indexes it returns. An untimed pass (all of a
// sequential order, a tenth of a random one) warms the page cache and the
// store's own caches; the next one is timed, within Scale.ReadBudget.
func runRead(env *Env, order func(first, last uint64) []uint64) (Result, error) {
	s, err := openStore(env, env.Fixture)
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	first, err := s.FirstIndex()
	if err != nil {
		return Result{}, err
	}
	last, err := s.LastIndex()
	if err != nil {
		return Result{}, err
	}
	if first == 0 || last < first {
		return Result{}, fmt.Errorf("fixture is empty: [%d, %d]", first, last)
	}
	idx := order(first, last)
	n := int(last - first + 1)
	if idx != nil {
		n = len(idx)
	}
	var l raft.Log
	// pass reads the first limit entries of the order, or fewer when the
	// budget runs out, and returns how many it read and their bytes.
	pass := func(limit int, budget time.Duration) (int, int64, error) {
		var bytes int64
		t0 := time.Now()
		for i := range limit {
			if i&63 == 63 && time.Since(t0) > budget {
				return i, bytes, nil
			}
			want := first + uint64(i)
			if idx != nil {
				want = idx[i]
			}
			if err := s.GetLog(want, &l); err != nil {
				return i, bytes, fmt.Errorf("GetLog(%d): %w", want, err)
			}
			if l.Index != want {
				return i, bytes, fmt.Errorf("GetLog(%d) returned index %d", want, l.Index)
			}
			bytes += int64(len(l.Data))
		}
		return limit, bytes, nil
	}
	warm := n
	if idx != nil {
		warm = max(n/10, 1)
	}
	if _, _, err := pass(warm, env.Scale.ReadBudget); err != nil {
		return Result{}, err
	}
	a := readAllocs()
	t0 := time.Now()
	done, bytes, err := pass(n, env.Scale.ReadBudget)
	d := time.Since(t0)
	if err != nil {
		return Result{}, err
	}
	allocs, allocBytes := a.since()
	r := newResult()
	if done < n {
		r.Labels["budget"] = fmt.Sprintf("stopped at the %v budget before reading all %d", env.Scale.ReadBudget, n)
		n = done
	}
	r.Metrics["entries_per_s"] = perSecond(float64(n), d)
	r.Metrics["mib_per_s"] = perSecond(float64(bytes)/mib, d)
	r.Metrics["ns_per_op"] = float64(d.Nanoseconds()) / float64(n)
	r.Metrics["allocs_per_op"] = allocs / float64(n)
	r.Metrics["bytes_per_op"] = allocBytes / float64(n)
	r.Metrics["entries"] = float64(n)
	r.Labels["cache"] = "warm"
	return r, nil
}

// storeSink keeps a read's result alive so that it is not optimized away.
var storeSink byte

func readView4K() Workload {
	return Workload{
		Name:  "read-view-4k",
		Title: "native zero-copy sequential read of 4 KiB entries (ViewReader, warm cache)",
		Needs: store.CapLogStore | store.CapViewRead,
		Metrics: []Metric{
			{Key: "mib_per_s", Label: "MiB/s", Better: Higher, Limit: "memcpy4k_mibps", Headline: true, Ratios: true},
			{Key: "entries_per_s", Label: "entries/s", Better: Higher, Headline: true},
			{Key: "allocs_per_op", Label: "allocs/op", Better: Lower, Headline: true},
			{Key: "ns_per_op", Label: "ns/op", Better: Lower},
		},
		Run: runView,
	}
}

// runView writes a ReadMiB log of 4 KiB entries, then reads it twice through
// ViewReader (the second pass timed), touching the first and last byte of
// each view: the store's own checksum verification reads the rest.
func runView(env *Env) (Result, error) {
	s, err := openStore(env, env.Dir)
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	vr, ok := s.(store.ViewReader)
	if !ok {
		return Result{}, fmt.Errorf("%s declares CapViewRead but does not implement store.ViewReader", env.Spec.Name)
	}
	w, err := newWriter(s, 4096, 64)
	if err != nil {
		return Result{}, err
	}
	if err := w.fill(int64(env.Scale.ReadMiB) * mib); err != nil {
		return Result{}, err
	}
	first, err := s.FirstIndex()
	if err != nil {
		return Result{}, err
	}
	last := w.next - 1
	var bytes int64
	touch := func(p []byte) error {
		if len(p) > 0 {
			storeSink ^= p[0] ^ p[len(p)-1]
		}
		bytes += int64(len(p))
		return nil
	}
	pass := func() error {
		bytes = 0
		for i := first; i <= last; i++ {
			if err := vr.View(i, touch); err != nil {
				return fmt.Errorf("View(%d): %w", i, err)
			}
		}
		return nil
	}
	if err := pass(); err != nil {
		return Result{}, err
	}
	a := readAllocs()
	t0 := time.Now()
	if err := pass(); err != nil {
		return Result{}, err
	}
	d := time.Since(t0)
	allocs, _ := a.since()
	n := float64(last - first + 1)
	r := newResult()
	r.Metrics["mib_per_s"] = perSecond(float64(bytes)/mib, d)
	r.Metrics["entries_per_s"] = perSecond(n, d)
	r.Metrics["allocs_per_op"] = allocs / n
	r.Metrics["ns_per_op"] = float64(d.Nanoseconds()) / n
	r.Labels["cache"] = "warm"
	return r, nil
}
