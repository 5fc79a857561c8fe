package workload

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/hashicorp/raft"

	"github.com/spoolhq/spool/bench/store"
	"github.com/spoolhq/spool/bench/sysstat"
)

// openSeries opens a size MiB log (built by the write workload of the same
// size) cold, then warm, and reports the open times and the memory the
// store holds once open.
func openSeries(size int) Workload {
	return Workload{
		Name:    OpenName(size),
		Title:   fmt.Sprintf("reopen a %d MiB log of 1 KiB entries: open + first/last index + read the last entry", size),
		Needs:   store.CapLogStore,
		Fixture: WriteName(size),
		Series:  "open",
		SizeMiB: size,
		Metrics: []Metric{
			{Key: "open_ms", Label: "open ms (cold)", Better: Lower, Headline: true, Ratios: true},
			{Key: "open_warm_ms", Label: "open ms (warm)", Better: Lower, Headline: true, Ratios: true},
			{Key: "rss_open_mib", Label: "RSS MiB after open", Better: Lower, Headline: true, Ratios: true},
			{Key: "rss_anon_mib", Label: "anon RSS MiB after open", Better: Lower, Headline: true},
			{Key: "rss_peak_mib", Label: "peak RSS MiB during open", Better: Lower, Headline: true},
			{Key: "rss_growth", Label: "peak RSS / idle RSS", Better: Lower, Headline: true},
			{Key: "rss_idle_mib", Label: "idle RSS MiB", Better: Neutral},
			{Key: "disk_mib", Label: "disk MiB", Better: Lower},
			{Key: "log_mib", Label: "file MiB", Better: Neutral},
		},
		Run: runOpen,
	}
}

// reopen opens dir, asks for the first and last index and reads the last
// entry: what a raft node does before it can serve.
func reopen(env *Env, dir string) (store.Store, time.Duration, error) {
	t0 := time.Now()
	s, err := openStore(env, dir)
	if err != nil {
		return nil, 0, err
	}
	first, err := s.FirstIndex()
	if err == nil {
		var last uint64
		if last, err = s.LastIndex(); err == nil && last >= first && last > 0 {
			var l raft.Log
			err = s.GetLog(last, &l)
		}
	}
	d := time.Since(t0)
	if err != nil {
		s.Close()
		return nil, 0, err
	}
	return s, d, nil
}

// settle returns memory to the OS so that the next reading starts low.
func settle() {
	runtime.GC()
	debug.FreeOSMemory()
}

func runOpen(env *Env) (Result, error) {
	r := newResult()
	prime := filepath.Join(env.Dir, "prime")
	if err := os.MkdirAll(prime, 0o755); err != nil {
		return r, err
	}
	cache := sysstat.Warm
	if !env.Warm {
		var err error
		if cache, err = sysstat.Evict(env.Fixture); err != nil {
			return r, fmt.Errorf("evict: %w", err)
		}
	}
	// Prime: run the store's open path on a tiny log of its own, so that
	// the cold open below pays for the log's pages, not for faulting in the
	// store's code (drop_caches evicts this binary too). The fixture's
	// pages stay evicted.
	if err := primeStore(env, prime); err != nil {
		return r, fmt.Errorf("prime: %w", err)
	}
	r.Labels["cache"] = string(cache)
	settle()
	idle := sysstat.ReadMemory()
	if !sysstat.ResetPeak() {
		r.Labels["peak"] = "VmHWM not resettable: peak includes start-up"
	}

	s, cold, err := reopen(env, env.Fixture)
	if err != nil {
		return r, err
	}
	open := sysstat.ReadMemory()
	if err := s.Close(); err != nil {
		return r, err
	}
	settle() // the closed store is garbage now: start the warm open low
	s, warm, err := reopen(env, env.Fixture)
	if err != nil {
		return r, err
	}
	if err := s.Close(); err != nil {
		return r, err
	}

	r.Metrics["open_ms"] = float64(cold) / float64(time.Millisecond)
	r.Metrics["open_warm_ms"] = float64(warm) / float64(time.Millisecond)
	r.Metrics["rss_idle_mib"] = float64(idle.RSS) / mib
	r.Metrics["rss_open_mib"] = float64(open.RSS) / mib
	r.Metrics["rss_anon_mib"] = float64(open.Anon) / mib
	r.Metrics["rss_peak_mib"] = float64(open.Peak) / mib
	if idle.RSS > 0 {
		r.Metrics["rss_growth"] = float64(open.Peak) / float64(idle.RSS)
	}
	if err := addDisk(r, env.Fixture, "disk_mib", "log_mib"); err != nil {
		return r, err
	}
	return r, nil
}

// primeStore creates (once) and reopens a one-entry log in dir.
func primeStore(env *Env, dir string) error {
	s, err := openStore(env, dir)
	if err != nil {
		return err
	}
	if last, err := s.LastIndex(); err == nil && last == 0 {
		w, err := newWriter(s, 1024, 1)
		if err == nil {
			err = w.call()
		}
		if err != nil {
			s.Close()
			return err
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	s, _, err = reopen(env, dir)
	if err != nil {
		return err
	}
	return s.Close()
}
