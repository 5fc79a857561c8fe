//go:build linux

package journal

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident reports, per page of b (a page-aligned slice of a mapping),
// whether the page is in the page cache.
func resident(t *testing.T, b []byte) []bool {
	t.Helper()
	page := os.Getpagesize()
	vec := make([]byte, (len(b)+page-1)/page)
	// mincore(2) is not wrapped by x/sys/unix; unsafe only to pass it
	// the mapping's address.
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Skipf("mincore: %v", errno)
	}
	out := make([]bool, len(vec))
	for i, v := range vec {
		out[i] = v&1 != 0
	}
	return out
}

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
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	dropCache(t, dir) // the pages are clean after Close

	j = mustOpen(t, dir, &Options{Sync: PageCache})
	defer closeOK(t, j)
	s := j.active
	if s == nil || !s.loaded.Load() {
		t.Fatal("no active segment after a clean reopen")
	}
	page := int64(os.Getpagesize())
	// A data page Open has no reason to read (midway, far from the
	// header it preads and the last entry) shows the eviction worked;
	// without it the check below would pass whatever Open did.
	mid := s.writeOff / 2 &^ (page - 1)
	if resident(t, s.data[mid:mid+page])[0] {
		t.Skip("the page cache kept the segment's pages: cannot tell")
	}
	off := s.slot(s.count.Load() - 1)
	from := off &^ (page - 1)
	to := (off + chunkHeaderSize + 3000 + page - 1) &^ (page - 1)
	for i, in := range resident(t, s.data[from:to]) {
		if !in {
			t.Fatalf("page %d of the last entry (offset %d) is not cached after Open", i, from+int64(i)*page)
		}
	}
}
