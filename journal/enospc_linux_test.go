package journal

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// mountTinyFS mounts a tmpfs of the given size for the test, or skips
// loudly when the test cannot (not root, no mount permission).
func mountTinyFS(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("SKIPPED (real ENOSPC needs root to mount a tmpfs): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// TestRealENOSPC fills a small tmpfs: the append that needs a new segment
// fails with a typed error wrapping ENOSPC (reserved by fallocate, never a
// SIGBUS), the journal stays readable and consistent, and appends resume
// once compaction frees space.
func TestRealENOSPC(t *testing.T) {
	dir := mountTinyFS(t, "1m")
	j := mustOpen(t, dir, &Options{SegmentSize: 256 << 10, Sync: SyncEach})
	var last uint64
	var err error
	for i := uint64(1); i < 100000; i++ {
		var idx uint64
		if idx, err = j.AppendBytes(payload(i, 4000)); err != nil {
			break
		}
		last = idx
	}
	if !errors.Is(err, ErrNoSpace) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the disk ended with %v, want ENOSPC", err)
	}
	if j.Err() != nil {
		t.Fatalf("ENOSPC on reservation made the journal fail: %v", j.Err())
	}
	t.Logf("disk full after %d entries: %v", last, err)
	checkEntries(t, j, 1, last, func(uint64) int { return 4000 })
	// Free space by compaction and append again.
	if err := j.TruncateFront(last - 10); err != nil {
		t.Fatal(err)
	}
	for i := last + 1; i < last+100; i++ {
		idx, err := j.AppendBytes(payload(i, 4000))
		if err != nil || idx != i {
			t.Fatalf("append after freeing space: %d, %v", idx, err)
		}
	}
	mustClose(t, j)
	j = mustOpen(t, dir, &Options{SegmentSize: 256 << 10, Sync: SyncEach})
	checkEntries(t, j, last-10, last+99, func(uint64) int { return 4000 })
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
}
