//go:build linux

package journal

import (
	"bufio"
	"os"
	"runtime"
	"strings"
	"testing"
)

// vmFlagsOf returns the VmFlags of the process's mapping of path
// (/proc/self/smaps), or "" if it is not mapped.
func vmFlagsOf(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	found := false
	for sc.Scan() {
		line := sc.Text()
		if fields := strings.Fields(line); len(fields) >= 6 && strings.Contains(fields[0], "-") {
			found = fields[len(fields)-1] == path
			continue
		}
		if v, ok := strings.CutPrefix(line, "VmFlags:"); ok && found {
			return v
		}
	}
	return ""
}

// TestIteratorReplayAdvice checks that a sealed segment's mapping reads at
// random (one page per cold fault), that an Iterator replaying it gives it
// the kernel's default read-around while it is there, and that the
// mapping reads at random again once the last Iterator has left.
func TestIteratorReplayAdvice(t *testing.T) {
	j := mustOpen(t, t.TempDir(), &Options{SegmentSize: minSegmentSize, Sync: PageCache})
	defer closeOK(t, j)
	p := make([]byte, 1<<10)
	for len(j.segs.Load().segs) < 3 {
		if _, err := j.AppendBytes(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	s := j.segs.Load().segs[0]
	// Its seal is durable; the bounder releases it and advises it
	// random. Wait for that progress (the test's deadline guards it).
	for !s.randomRead.Load() || !strings.Contains(vmFlagsOf(t, s.path), " rr") {
		j.bound.poke()
		runtime.Gosched()
	}
	it := j.Iter(s.first)
	if !it.Next() {
		t.Fatal(it.Err())
	}
	if n := s.replaying.Load(); n != 1 {
		t.Fatalf("%d Iterators replaying the first segment, want 1", n)
	}
	if flags := vmFlagsOf(t, s.path); strings.Contains(flags, " rr") {
		t.Fatalf("segment replayed by an Iterator mapped with VmFlags%s, want the default read-around", flags)
	}
	for it.Next() && it.Index() < s.first+uint64(s.count.Load())+1 {
	}
	if n := s.replaying.Load(); n != 0 {
		t.Fatalf("%d Iterators replaying the first segment after the Iterator left it, want 0", n)
	}
	if flags := vmFlagsOf(t, s.path); !strings.Contains(flags, " rr") {
		t.Fatalf("segment left by its Iterator mapped with VmFlags%s, want rr again", flags)
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if n := j.segs.Load().segs[1].replaying.Load(); n != 0 {
		t.Fatalf("%d Iterators replaying the second segment after Close, want 0", n)
	}
}
