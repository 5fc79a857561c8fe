package sysstat

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

func TestDiskUsageCountsBlocks(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a"), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil { // a hole: no blocks
		t.Fatal(err)
	}
	f.Close()
	used, err := DiskUsage(dir)
	if err != nil {
		t.Fatal(err)
	}
	if used < 1<<20 || used > 2<<20 {
		t.Errorf("DiskUsage = %d, want about 1 MiB (the sparse file has no blocks)", used)
	}
	size, err := ApparentSize(dir)
	if err != nil || size != 65<<20 {
		t.Errorf("ApparentSize = %d, %v; want 65 MiB", size, err)
	}
}

func TestReadMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	m := ReadMemory()
	if !m.Present || m.RSS <= 0 || m.Peak < m.RSS || m.Anon <= 0 {
		t.Fatalf("ReadMemory = %+v", m)
	}
}

// TestFreeBytes: statfs answers for the directory's filesystem with a
// positive figure no larger than the filesystem. (Whether it moves with a
// file's blocks is not asserted: other processes write to the same
// filesystem.)
func TestFreeBytes(t *testing.T) {
	free, err := FreeBytes(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if free <= 0 {
		t.Fatalf("FreeBytes = %d", free)
	}
	if _, err := FreeBytes(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("FreeBytes of a missing path succeeded")
	}
}
