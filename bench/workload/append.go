package workload

import (
	"fmt"
	"time"

	"github.com/spoolhq/spool/bench/store"
)

func append128x64() Workload {
	ms := []Metric{
		{Key: "entries_per_s", Label: "entries/s", Better: Higher, Headline: true, Ratios: true},
	}
	ms = append(ms, latencyMetrics("call", "call", true)...)
	ms = append(ms,
		Metric{Key: "mib_per_s", Label: "MiB/s", Better: Higher},
		Metric{Key: "allocs_per_call", Label: "allocs/call", Better: Lower},
	)
	return Workload{
		Name:    "append-128x64",
		Title:   "durable append: 64 entries of 128 B per StoreLogs call",
		Needs:   store.CapLogStore,
		Metrics: ms,
		Run: func(env *Env) (Result, error) {
			return runAppend(env, 128, 64, env.Scale.Append128Calls)
		},
	}
}

func append1K() Workload {
	ms := latencyMetrics("call", "call", true)
	ms = append(ms,
		Metric{Key: "entries_per_s", Label: "entries/s", Better: Higher, Headline: true, Ratios: true},
		Metric{Key: "mib_per_s", Label: "MiB/s", Better: Higher},
		Metric{Key: "allocs_per_call", Label: "allocs/call", Better: Lower},
	)
	return Workload{
		Name:    "append-1k",
		Title:   "durable append: one 1 KiB entry per StoreLogs call",
		Needs:   store.CapLogStore,
		Metrics: ms,
		Run: func(env *Env) (Result, error) {
			return runAppend(env, 1024, 1, env.Scale.Append1KCalls)
		},
	}
}

func append256Kx4() Workload {
	ms := []Metric{
		{Key: "mib_per_s", Label: "MiB/s", Better: Higher, Limit: "seq_write_mibps", Headline: true, Ratios: true},
		{Key: "entries_per_s", Label: "entries/s", Better: Higher},
	}
	ms = append(ms, latencyMetrics("call", "call", false)...)
	ms = append(ms, Metric{Key: "allocs_per_call", Label: "allocs/call", Better: Lower})
	return Workload{
		Name:    "append-256kx4",
		Title:   "durable append: 4 entries of 256 KiB per StoreLogs call",
		Needs:   store.CapLogStore,
		Metrics: ms,
		Run: func(env *Env) (Result, error) {
			calls := max(env.Scale.Append256KMiB*mib/(4*256<<10), 1)
			return runAppend(env, 256<<10, 4, calls)
		},
	}
}

// runAppend opens a new store, writes Scale.AppendPrefillMiB of 1 KiB
// entries into it (256 per StoreLogs, untimed), and times calls StoreLogs
// calls of perCall entries of size bytes each, after a few untimed ones.
//
// The prefill puts the timed calls where a long-running log writes: past
// the start of a segment file. How far into its file a store writes
// matters for a store that writes through a mapping: the page cache builds
// larger folios as read-ahead ramps up through a file, a store through the
// mapping dirties a whole folio, and a sync writes whole folios. The first
// few MiB of a fresh file (where the timed calls of a small shape land
// without a prefill) have small folios; see README.md, "Methodology".
func runAppend(env *Env, size, perCall, calls int) (Result, error) {
	s, err := openStore(env, env.Dir)
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	r := newResult()
	if pre := env.Scale.AppendPrefillMiB; pre > 0 {
		pw, err := newWriter(s, 1024, 256)
		if err != nil {
			return Result{}, err
		}
		if err := pw.fill(int64(pre) * mib); err != nil {
			return Result{}, fmt.Errorf("prefill: %w", err)
		}
		r.Labels["prefill"] = fmt.Sprintf("%d MiB", pre)
	}
	w, err := newWriter(s, size, perCall)
	if err != nil {
		return Result{}, err
	}
	for range min(max(calls/10, 1), 20) { // warm up: first segment, code paths
		if err := w.call(); err != nil {
			return Result{}, err
		}
	}
	lat := make([]time.Duration, calls)
	a := readAllocs()
	t0 := time.Now()
	for i := range lat {
		c0 := time.Now()
		if err := w.call(); err != nil {
			return Result{}, err
		}
		lat[i] = time.Since(c0)
	}
	total := time.Since(t0)
	n, _ := a.since()

	entries := float64(calls * perCall)
	r.Metrics["entries_per_s"] = perSecond(entries, total)
	r.Metrics["mib_per_s"] = perSecond(entries*float64(size)/mib, total)
	r.Metrics["allocs_per_call"] = n / float64(calls)
	addLatencies(r, "call", lat)
	return r, nil
}
