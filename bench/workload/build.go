package workload

import (
	"fmt"

	"time"

	"github.com/spoolhq/spool/bench/store"
	"github.com/spoolhq/spool/bench/sysstat"
)

// writeSeries builds a read-only log of size MiB of 1 KiB entries in
// StoreLogs calls of 256 entries, and reports the write bandwidth and the
// memory the store used while writing it.
func writeSeries(size int) Workload {
	return Workload{
		Name:    WriteName(size),
		Title:   fmt.Sprintf("write a %d MiB log of 1 KiB entries, 256 per StoreLogs (builds the read-only log other workloads read)", size),
		Needs:   store.CapLogStore,
		Build:   true,
		Series:  "write",
		SizeMiB: size,
		Metrics: []Metric{
			{Key: "mib_per_s", Label: "MiB/s", Better: Higher, Limit: "seq_write_mibps", Headline: true, Ratios: true},
			{Key: "rss_peak_mib", Label: "peak RSS MiB", Better: Lower, Headline: true, Ratios: true},
			{Key: "rss_anon_mib", Label: "anon RSS MiB", Better: Lower, Headline: true},
			{Key: "disk_mib", Label: "disk MiB", Better: Lower, Headline: true},
			{Key: "log_mib", Label: "file MiB", Better: Neutral},
			{Key: "entries", Label: "entries", Better: Neutral},
		},
		Run: func(env *Env) (Result, error) { return runBuild(env, size) },
	}
}

func runBuild(env *Env, size int) (Result, error) {
	s, err := openStore(env, env.Dir)
	if err != nil {
		return Result{}, err
	}
	w, err := newWriter(s, 1024, 256)
	if err != nil {
		s.Close()
		return Result{}, err
	}
	t0 := time.Now()
	if err := w.fill(int64(size) * mib); err != nil {
		s.Close()
		return Result{}, err
	}
	d := time.Since(t0)
	mem := sysstat.ReadMemory()
	if err := s.Close(); err != nil {
		return Result{}, err
	}
	r := newResult()
	entries := float64(w.next - 1)
	r.Metrics["entries"] = entries
	r.Metrics["mib_per_s"] = perSecond(entries*1024/mib, d)
	r.Metrics["rss_peak_mib"] = float64(mem.Peak) / mib
	r.Metrics["rss_anon_mib"] = float64(mem.Anon) / mib
	if err := addDisk(r, env.Dir, "disk_mib", "log_mib"); err != nil {
		return Result{}, err
	}
	return r, nil
}

// addDisk records the allocated and apparent size of dir in MiB.
func addDisk(r Result, dir, diskKey, logKey string) error {
	disk, err := sysstat.DiskUsage(dir)
	if err != nil {
		return err
	}
	r.Metrics[diskKey] = float64(disk) / mib
	if logKey != "" {
		size, err := sysstat.ApparentSize(dir)
		if err != nil {
			return err
		}
		r.Metrics[logKey] = float64(size) / mib
	}
	return nil
}
