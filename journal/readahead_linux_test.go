//go:build linux

package journal

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
)

// ioReadBytes returns the bytes this process has caused to be read from
// storage (/proc/self/io read_bytes), or ok false where that is not
// available.
func ioReadBytes(tb testing.TB) (n int64, ok bool) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, found := strings.CutPrefix(line, "read_bytes:"); found {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// TestColdPrefixReadsWhatItReads reads the first 64 bytes of a 16 MiB
// entry in a sealed segment whose pages were dropped from the page cache,
// and checks that the read brought at most 256 KiB in from storage: the
// faults of a prefix read must not each pull in the kernel's read-around
// window (8 MiB where read_ahead_kb is 8192). A whole read of the same
// entry afterwards shows that reads are accounted at all (on tmpfs, or
// where /proc/self/io is missing, the test skips).
func TestColdPrefixReadsWhatItReads(t *testing.T) {
	const size = 16 << 20
	dir := t.TempDir()
	opts := &Options{Sync: PageCache, SegmentSize: 20 << 20, MaxEntrySize: 32 << 20, spare: spareOff}
	j := mustOpen(t, dir, opts)
	want := payload(1, size)
	if _, err := j.AppendBytes(want); err != nil {
		t.Fatal(err)
	}
	// The next entry spans into a second segment, so that the first is
	// sealed (mapped on load as readers will find it).
	if _, err := j.AppendBytes(payload(2, 8<<20)); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, j, []byte("last"))
	mustClose(t, j)
	dropCache(t, dir)

	j = mustOpen(t, dir, opts)
	defer closeOK(t, j)
	before, ok := ioReadBytes(t)
	if !ok {
		t.Skip("/proc/self/io read_bytes unavailable")
	}
	// Through Get, not Read: spooldebug builds serve Read a verified copy
	// of the whole entry (poison_on.go), which reads all of it.
	var got [64]byte
	v, err := j.Get(1)
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Reader().Next(len(got))
	if err != nil {
		t.Fatal(err)
	}
	copy(got[:], p)
	v.Release()
	if !bytes.Equal(got[:], want[:len(got)]) {
		t.Fatalf("prefix %x, want %x", got, want[:len(got)])
	}
	mid, _ := ioReadBytes(t)
	whole, err := j.ReadBytes(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(whole, want) {
		t.Fatal("whole entry differs from what was appended")
	}
	after, _ := ioReadBytes(t)
	prefix, rest := mid-before, after-mid
	t.Logf("cold 64-byte read of a 16 MiB entry read %d KiB from storage; the whole entry after it %d KiB", prefix>>10, rest>>10)
	if prefix+rest < size/2 {
		t.Skipf("reads not accounted here (%d KiB for a cold 16 MiB entry): page cache not dropped or not on a block device", (prefix+rest)>>10)
	}
	if prefix > 256<<10 {
		t.Fatalf("cold 64-byte read of a 16 MiB entry read %d KiB from storage, want at most 256 KiB", prefix>>10)
	}
}
