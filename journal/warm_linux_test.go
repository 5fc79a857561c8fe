//go:build linux

package journal

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// After a clean close, Open reads the last entry's payload with pread, so
// that the first read of it (what a Raft node does at start) finds its
// pages cached instead of faulting on the cold mapping, which reads around
// the fault by the device's read-ahead (8 MiB on the CI VM).
func TestOpenWarmsLastEntry(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, &Options{Sync: PageCache})
	for i := uint64(1); i <= 2000; i++ {
		if _, err := j.AppendBytes(payload(i, 3000)); err != nil {
			t.Fatal(err)
		}
	}
	path := j.active.path
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	// Evict the segment's (clean) pages.
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Skipf("fadvise: %v", err)
	}
	f.Close()

	j = mustOpen(t, dir, &Options{Sync: PageCache})
	defer j.Close()
	s := j.active
	if s == nil || !s.loaded.Load() {
		t.Fatal("no active segment after a clean reopen")
	}
	off := s.slot(s.count.Load() - 1)
	page := int64(os.Getpagesize())
	from := off &^ (page - 1)
	to := (off + chunkHeaderSize + 3000 + page - 1) &^ (page - 1)
	vec := make([]byte, (to-from)/page)
	// mincore(2) is not wrapped by x/sys/unix; unsafe only to pass it
	// the mapping's address.
	b := s.data[from:to]
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Skipf("mincore: %v", errno)
	}
	for i, v := range vec {
		if v&1 == 0 {
			t.Fatalf("page %d of the last entry (offset %d) is not cached after Open", i, from+int64(i)*page)
		}
	}
}
