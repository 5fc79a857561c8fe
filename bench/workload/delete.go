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
			{Key: "reclaimed_statfs_pct", Label: "% disk free again at return (statfs)", Better: Higher, Headline: true, Ratios: true},
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
//
// Space is measured twice: the blocks of the files left in the directory
// (reclaimed_pct, as du counts), and the filesystem's free space from
// statfs (reclaimed_statfs_pct), which only grows once the blocks are
// really free: an unlinked file that the store still holds open, or closes
// later in the background, counts as not reclaimed. Other processes
// writing to the same filesystem move the statfs figure too; the driver
// runs one cell at a time, and the figure is a median over repetitions.
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
	freeBefore, err := sysstat.FreeBytes(env.Dir)
	if err != nil {
		return Result{}, err
	}
	t0 := time.Now()
	if err := s.DeleteRange(first, mid); err != nil {
		return Result{}, fmt.Errorf("DeleteRange(%d, %d): %w", first, mid, err)
	}
	d := time.Since(t0)
	freeAfter, err := sysstat.FreeBytes(env.Dir)
	if err != nil {
		return Result{}, err
	}
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
		r.Metrics["reclaimed_statfs_pct"] = 100 * float64(freeAfter-freeBefore) / float64(before)
	}
	return r, nil
}

// SuffixCutEntries is how many entries each round of the suffix workload
// cuts from the end of the log and stores again: a Raft follower's
// conflicting tail, a batch long.
const SuffixCutEntries = 64

func deleteSuffix() Workload {
	ms := latencyMetrics("cut", "DeleteRange", true)
	ms = append(ms, Metric{Key: "cuts", Label: "cuts timed", Better: Neutral})
	return Workload{
		Name:    "delete-suffix",
		Title:   fmt.Sprintf("DeleteRange of the newest %d entries of a log of 1 KiB entries, then StoreLogs of them again (a follower's conflicting tail), repeated", SuffixCutEntries),
		Needs:   store.CapLogStore,
		Metrics: ms,
		Run:     runDeleteSuffix,
	}
}

// runDeleteSuffix writes SuffixMiB of 1 KiB entries into a new store, then
// SuffixCuts times deletes the newest SuffixCutEntries entries (timed) and
// stores them again (untimed). The cut is durable when DeleteRange returns
// (the LogStore contract), so its floor is one data sync: the in-place
// write + fdatasync latency.
func runDeleteSuffix(env *Env) (Result, error) {
	s, err := openStore(env, env.Dir)
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	w, err := newWriter(s, 1024, SuffixCutEntries)
	if err != nil {
		return Result{}, err
	}
	if err := w.fill(max(int64(env.Scale.SuffixMiB)*mib, 2*SuffixCutEntries*1024)); err != nil {
		return Result{}, err
	}
	lat := make([]time.Duration, env.Scale.SuffixCuts)
	for i := range lat {
		last := w.next - 1
		from := last - SuffixCutEntries + 1
		t0 := time.Now()
		if err := s.DeleteRange(from, last); err != nil {
			return Result{}, fmt.Errorf("DeleteRange(%d, %d): %w", from, last, err)
		}
		lat[i] = time.Since(t0)
		if l, err := s.LastIndex(); err != nil || l != from-1 {
			return Result{}, fmt.Errorf("after DeleteRange(%d, %d): LastIndex = %d, %v", from, last, l, err)
		}
		w.next = from
		if err := w.call(); err != nil {
			return Result{}, fmt.Errorf("StoreLogs after the cut at %d: %w", from, err)
		}
	}
	r := newResult()
	r.Metrics["cuts"] = float64(len(lat))
	addLatencies(r, "cut", lat)
	return r, nil
}
