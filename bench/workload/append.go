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

// appendBursts is how many bursts the timed calls of an append workload
// are split into, spread over Scale.AppendSpreadMiB of log.
const appendBursts = 8

// runAppend opens a new store and times calls StoreLogs calls of perCall
// entries of size bytes each, after a few untimed ones. The timed calls
// come in appendBursts bursts spread evenly over the first
// Scale.AppendSpreadMiB of the log: before each burst, untimed StoreLogs
// of 256 × 1 KiB entries fill the log up to the burst's place. With a
// spread of 0 every timed call follows the previous one, from the start of
// a fresh store.
//
// Where in its files a store writes matters for a store that writes
// through a mapping: the page cache builds larger folios as read-ahead
// ramps up through a file, a store through the mapping dirties a whole
// folio, and a sync writes whole folios, so the first MiB of a fresh
// segment file (where 2000 timed 1 KiB calls land without a spread) is
// the cheapest place to sync small appends. A log that has been running
// writes anywhere in its segment; the spread samples all of it (README.md,
// "Methodology").
func runAppend(env *Env, size, perCall, calls int) (Result, error) {
	s, err := openStore(env, env.Dir)
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	w, err := newWriter(s, size, perCall)
	if err != nil {
		return Result{}, err
	}
	fill, err := newWriter(s, 1024, 256)
	if err != nil {
		return Result{}, err
	}
	warm := min(max(calls/10, 1), 20)
	for range warm { // warm up: first segment, code paths
		if err := w.call(); err != nil {
			return Result{}, err
		}
	}
	spread := int64(env.Scale.AppendSpreadMiB) * mib
	written := int64(warm * perCall * size)
	lat := make([]time.Duration, 0, calls)
	var busy time.Duration
	var allocs float64
	for b := range appendBursts {
		if target := spread * int64(b) / appendBursts; written < target {
			fill.next = w.next
			for written < target {
				if err := fill.call(); err != nil {
					return Result{}, fmt.Errorf("fill before burst %d: %w", b, err)
				}
				written += 256 * 1024
			}
			w.next = fill.next
		}
		n := calls*(b+1)/appendBursts - calls*b/appendBursts
		a := readAllocs()
		t0 := time.Now()
		for range n {
			c0 := time.Now()
			if err := w.call(); err != nil {
				return Result{}, err
			}
			lat = append(lat, time.Since(c0))
		}
		busy += time.Since(t0)
		m, _ := a.since()
		allocs += m
		written += int64(n * perCall * size)
	}

	r := newResult()
	if spread > 0 {
		r.Labels["spread"] = fmt.Sprintf("%d bursts over %d MiB", appendBursts, env.Scale.AppendSpreadMiB)
	}
	entries := float64(calls * perCall)
	r.Metrics["entries_per_s"] = perSecond(entries, busy)
	r.Metrics["mib_per_s"] = perSecond(entries*float64(size)/mib, busy)
	r.Metrics["allocs_per_call"] = allocs / float64(calls)
	addLatencies(r, "call", lat)
	return r, nil
}
