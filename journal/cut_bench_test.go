package journal

import (
	"path/filepath"
	"syscall"
	"testing"
)

// diskUsage returns the bytes of blocks held by the files in dir (what du
// counts, and what the bench suite's delete-half workload measures).
func diskUsage(b *testing.B, dir string) int64 {
	b.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, p := range names {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			b.Fatal(err)
		}
		n += st.Blocks * 512
	}
	return n
}

// freeBytes returns the free bytes of the file system holding dir.
func freeBytes(b *testing.B, dir string) int64 {
	b.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		b.Fatal(err)
	}
	return int64(st.Bfree) * int64(st.Bsize) // Bsize is uint32 on darwin
}

// BenchmarkTruncateFrontHalf times TruncateFront of the oldest half of a
// log of 1 KiB entries (SPOOL_BENCH_CUT_MIB MiB, default 64, in 16 MiB
// segments: the bench suite's delete-half at a quarter of its scale), on
// the OS file system. Metrics: the share of the files' blocks gone when
// the call returns (du_reclaimed_%), the file system's free space gained by
// then (statfs_reclaimed_%) and once the reaper has torn the removed
// segments down (statfs_idle_reclaimed_%), each against the blocks the log
// held before. statfs figures count every writer of the disk: other
// processes' writes make them noisy.
func BenchmarkTruncateFrontHalf(b *testing.B) {
	mib := envInt("SPOOL_BENCH_CUT_MIB", 64)
	var du, sf, sfIdle float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		j, err := Open(dir, &Options{SegmentSize: 16 << 20, Sync: PageCache})
		if err != nil {
			b.Fatal(err)
		}
		p := make([]byte, 1024)
		n := uint64(mib) << 10
		for k := uint64(1); k <= n; k++ {
			if _, err := j.AppendBytes(p); err != nil {
				b.Fatal(err)
			}
		}
		if err := j.Sync(); err != nil {
			b.Fatal(err)
		}
		before, free0 := diskUsage(b, dir), freeBytes(b, dir)
		b.StartTimer()
		if err := j.TruncateFront(n/2 + 1); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		after, free1 := diskUsage(b, dir), freeBytes(b, dir)
		j.reaper.waitIdle()
		free2 := freeBytes(b, dir)
		du += float64(before-after) / float64(before)
		sf += float64(free1-free0) / float64(before)
		sfIdle += float64(free2-free0) / float64(before)
		if err := j.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(100*du/float64(b.N), "du_reclaimed_%")
	b.ReportMetric(100*sf/float64(b.N), "statfs_reclaimed_%")
	b.ReportMetric(100*sfIdle/float64(b.N), "statfs_idle_reclaimed_%")
}

// BenchmarkTruncateBack times a suffix cut of 16 durable 1 KiB entries in
// the active segment (SyncEach), the shape of a Raft follower dropping a
// conflicting tail; each iteration first appends 32 entries untimed.
func BenchmarkTruncateBack(b *testing.B) {
	j, err := Open(b.TempDir(), &Options{SegmentSize: 16 << 20, Sync: SyncEach})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		if err := j.Close(); err != nil {
			b.Fatal(err)
		}
	}()
	p := make([]byte, 1024)
	batch := make([][]byte, 32)
	for i := range batch {
		batch[i] = p
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for range batch {
			if _, err := j.AppendBytes(p); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := j.TruncateBack(j.LastIndex() - 16); err != nil {
			b.Fatal(err)
		}
	}
}
