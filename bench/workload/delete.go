package workload

import (
	"fmt"
	"time"

	"github.com/spoolhq/spool/bench/store"
	"github.com/spoolhq/spool/bench/sysstat"
)

func deleteHalf() Workload {
	return Workload{
		Name:  "delete-half",
		Title: "DeleteRange of the oldest half of a log of 1 KiB entries: time, and disk space reclaimed at once",
		Needs: store.CapLogStore,
		Metrics: []Metric{
			{Key: "delete_ms", Label: "DeleteRange ms", Better: Lower, Headline: true, Ratios: true},
			{Key: "reclaimed_pct", Label: "% disk reclaimed at once", Better: Higher, Headline: true, Ratios: true},
			{Key: "disk_before_mib", Label: "disk MiB before", Better: Neutral, Headline: true},
			{Key: "disk_after_mib", Label: "disk MiB after", Better: Lower},
		},
		Run: runDelete,
	}
}

// runDelete writes DeleteMiB of 1 KiB entries into a new store, deletes the
// oldest half and measures the time and the allocated blocks before and
// right after. (Not after Close: closing also removes files that have
// nothing to do with the delete, such as etcd's preallocated next segment.)
func runDelete(env *Env) (Result, error) {
	s, err := openStore(env, env.Dir)
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	w, err := newWriter(s, 1024, 256)
	if err != nil {
		return Result{}, err
	}
	if err := w.fill(int64(env.Scale.DeleteMiB) * mib); err != nil {
		return Result{}, err
	}
	first, err := s.FirstIndex()
	if err != nil {
		return Result{}, err
	}
	last := w.next - 1
	mid := first + (last-first+1)/2 - 1
	before, err := sysstat.DiskUsage(env.Dir)
	if err != nil {
		return Result{}, err
	}
	t0 := time.Now()
	if err := s.DeleteRange(first, mid); err != nil {
		return Result{}, fmt.Errorf("DeleteRange(%d, %d): %w", first, mid, err)
	}
	d := time.Since(t0)
	after, err := sysstat.DiskUsage(env.Dir)
	if err != nil {
		return Result{}, err
	}
	if f, err := s.FirstIndex(); err != nil || f != mid+1 {
		return Result{}, fmt.Errorf("after DeleteRange(%d, %d): FirstIndex = %d, %v", first, mid, f, err)
	}
	r := newResult()
	r.Metrics["delete_ms"] = float64(d) / float64(time.Millisecond)
	r.Metrics["disk_before_mib"] = float64(before) / mib
	r.Metrics["disk_after_mib"] = float64(after) / mib
	if before > 0 {
		r.Metrics["reclaimed_pct"] = 100 * float64(before-after) / float64(before)
	}
	return r, nil
}
