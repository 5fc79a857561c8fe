package journal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tmpFiles lists the temporary (.tmp) files in dir.
func tmpFiles(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if strings.HasSuffix(de.Name(), tmpSuffix) {
			out = append(out, de.Name())
		}
	}
	return out
}

func spareReady(j *Journal) *spareFile {
	j.spareMaker.mu.Lock()
	defer j.spareMaker.mu.Unlock()
	return j.spareMaker.spare
}

// waitSpare waits for the spare maker, which runs in the background and
// may be starved for a long time on a busy machine, to prepare a spare,
// and returns it. The limit is a failure guard for a maker that never
// runs, not a pace it must keep.
func waitSpare(t *testing.T, j *Journal) *spareFile {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if sp := spareReady(j); sp != nil {
			return sp
		}
		if time.Now().After(deadline) {
			t.Fatal("no spare prepared")
		}
		time.Sleep(time.Millisecond)
	}
}

// appendUntil appends 1 KiB entries until done reports true.
func appendUntil(t *testing.T, j *Journal, done func() bool) {
	t.Helper()
	for i := 0; !done(); i++ {
		if i > 100000 {
			t.Fatal("condition never met")
		}
		if _, err := j.AppendBytes(payload(j.LastIndex()+1, 1024)); err != nil {
			t.Fatal(err)
		}
	}
}

// The spare maker prepares the next segment file once the active one is
// half full; the roll renames it into place, and Close removes a spare
// that was never used.
func TestSpareUsedAtRoll(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, &Options{SegmentSize: 1 << 20, Sync: PageCache})
	// The append after the half-way point asks for the spare.
	appendUntil(t, j, func() bool { return j.active != nil && j.active.writeOff >= j.active.size/2+4096 })
	sp := waitSpare(t, j)
	if got := tmpFiles(t, dir); len(got) != 1 || filepath.Join(dir, got[0]) != sp.path {
		t.Fatalf("tmp files %v, want the spare %s", got, sp.path)
	}
	first := j.active
	appendUntil(t, j, func() bool { return j.active != first })
	if j.active.file != sp.file {
		t.Fatal("the roll did not use the spare")
	}
	if got := tmpFiles(t, dir); len(got) != 0 && spareReady(j) == nil {
		t.Fatalf("tmp files %v after the roll", got)
	}
	checkEntries(t, j, 1, j.LastIndex(), func(uint64) int { return 1024 })
	// Half-fill the new segment so another spare is made, then close.
	appendUntil(t, j, func() bool { return j.active.writeOff >= j.active.size/2+4096 })
	waitSpare(t, j)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if got := tmpFiles(t, dir); len(got) != 0 {
		t.Fatalf("tmp files %v after Close", got)
	}
	j = mustOpen(t, dir, &Options{SegmentSize: 1 << 20, Sync: PageCache})
	defer closeOK(t, j)
	checkEntries(t, j, 1, j.LastIndex(), func(uint64) int { return 1024 })
}

// A spare left by a crash is reported by Verify as an interrupted creation
// and removed by Open; nothing acknowledged is affected.
func TestSpareLeftByCrash(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentSize: 1 << 20, Sync: SyncEach, spare: spareInline}
	j := mustOpen(t, dir, opts)
	appendUntil(t, j, func() bool { return spareReady(j) != nil })
	last := j.LastIndex()
	j.crashClose()
	if got := tmpFiles(t, dir); len(got) != 1 {
		t.Fatalf("tmp files %v after the crash, want the spare", got)
	}
	rep, err := Verify(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(rep.Notes, "\n"), "interrupted creation") {
		t.Fatalf("Verify notes %q do not mention the spare", rep.Notes)
	}
	j = mustOpen(t, dir, opts)
	defer closeOK(t, j)
	if got := tmpFiles(t, dir); len(got) != 0 {
		t.Fatalf("tmp files %v after recovery", got)
	}
	if j.LastIndex() != last {
		t.Fatalf("last %d after recovery, want %d", j.LastIndex(), last)
	}
	checkEntries(t, j, 1, last, func(uint64) int { return 1024 })
}

// With spares off each roll creates its own file and none is ever made.
func TestSpareOff(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, &Options{SegmentSize: 256 << 10, Sync: PageCache, spare: spareOff})
	defer closeOK(t, j)
	appendUntil(t, j, func() bool { return len(j.segs.Load().segs) >= 3 })
	if sp := spareReady(j); sp != nil || len(tmpFiles(t, dir)) != 0 {
		t.Fatalf("spare %v, tmp files %v with spares off", sp, tmpFiles(t, dir))
	}
	checkEntries(t, j, 1, j.LastIndex(), func(uint64) int { return 1024 })
}

// segFiles counts the segment files in dir.
func segFiles(t *testing.T, dir string) int {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, de := range des {
		if _, _, ok := parseSegmentName(de.Name()); ok {
			n++
		}
	}
	return n
}

// Cutting a suffix that rolled into a new segment, again and again (a Raft
// follower whose conflicting tail keeps being replaced), neither leaves an
// empty segment file behind per cut nor creates a fresh file per roll: the
// cut segment becomes the spare, and the next roll takes it under a new ID.
func TestTruncateBackRecyclesSegment(t *testing.T) {
	for _, mode := range []spareMode{spareBackground, spareInline} {
		dir := t.TempDir()
		opts := &Options{SegmentSize: testSegSize, Sync: SyncEach, spare: mode}
		j := mustOpen(t, dir, opts)
		size := func(i uint64) int { return 100 + int(i%7) }
		reused := 0
		for i := uint64(1); i <= 100; i++ {
			if _, err := j.AppendBytes(payload(i, size(i))); err != nil {
				t.Fatal(err)
			}
		}
		for round := 0; round < 30; round++ {
			// Roll first, so the suffix lives in a segment of its own.
			if err := j.TruncateBack(100); err != nil {
				t.Fatal(err)
			}
			sp := spareReady(j) // the segment the last cut removed, if recycled
			for i := uint64(101); i <= 110; i++ {
				if _, err := j.AppendBytes(payload(i, size(i))); err != nil {
					t.Fatal(err)
				}
				if i == 101 && sp != nil && strings.Contains(sp.path, "spare-r") {
					if j.active.file != sp.file {
						t.Fatalf("mode %d round %d: the roll did not take the recycled segment", mode, round)
					}
					reused++
				}
			}
			if err := j.TruncateBack(100); err != nil {
				t.Fatal(err)
			}
			if n := segFiles(t, dir); n > 2 {
				t.Fatalf("mode %d round %d: %d segment files for 100 entries", mode, round, n)
			}
			if n := len(tmpFiles(t, dir)); n > 1 {
				t.Fatalf("mode %d round %d: %d spare files", mode, round, n)
			}
		}
		if j.spareMaker.recycled.Load() == 0 || reused == 0 {
			t.Fatalf("mode %d: %d cut segments recycled, %d reused by a roll", mode, j.spareMaker.recycled.Load(), reused)
		}
		checkEntries(t, j, 1, 100, size)
		for i := uint64(101); i <= 120; i++ {
			if _, err := j.AppendBytes(payload(i, size(i))); err != nil {
				t.Fatal(err)
			}
		}
		j.crashClose() // recovery scans the recycled tail: no stale frame may revive
		j = mustOpen(t, dir, opts)
		checkEntries(t, j, 1, 120, size)
		mustClose(t, j)
	}
}

// A segment pinned by a view of a discarded entry is not recycled: the
// view's bytes stay valid until it is released.
func TestTruncateBackKeepsPinnedSegment(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, &Options{SegmentSize: testSegSize, Sync: PageCache, spare: spareInline})
	defer closeOK(t, j)
	for i := uint64(1); i <= 10; i++ {
		if _, err := j.AppendBytes(payload(i, 200)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.TruncateBack(10); err != nil { // roll: the suffix gets its own segment
		t.Fatal(err)
	}
	for i := uint64(11); i <= 20; i++ {
		if _, err := j.AppendBytes(payload(i, 200)); err != nil {
			t.Fatal(err)
		}
	}
	v, err := j.Get(15)
	if err != nil {
		t.Fatal(err)
	}
	want := payload(15, 200)
	if err := j.TruncateBack(10); err != nil {
		t.Fatal(err)
	}
	if j.spareMaker.recycled.Load() != 0 {
		t.Fatal("a pinned segment was recycled")
	}
	for i := uint64(11); i <= 300; i++ { // enough to roll into whatever the next segment is
		if _, err := j.AppendBytes(payload(i+1000, 200)); err != nil {
			t.Fatal(err)
		}
	}
	got, ok := v.Bytes()
	if !ok || string(got) != string(want) {
		t.Fatal("view of a discarded entry changed under it")
	}
	v.Release()
}

// A cut whose first discarded entry starts a segment that also holds the
// end of the last kept entry (the segment opens with its continuation)
// keeps that segment: the kept entry's last chunk lives there. At Open the
// segment is not loaded yet, so whether it opens with a continuation must
// be read from its header before deciding; a regression test for a
// version of the empty-segment cut that decided from the unloaded state
// and cut the kept entry short.
func TestTruncateBackKeepsContinuationAfterReopen(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentSize: testSegSize, Sync: PageCache, spare: spareInline}
	j := mustOpen(t, dir, opts)
	sizes := map[uint64]int{1: 100, 2: 100 << 10} // entry 2 spans into later segments
	size := func(i uint64) int {
		if n, ok := sizes[i]; ok {
			return n
		}
		return 3000
	}
	for i := uint64(1); i <= 40; i++ {
		if _, err := j.AppendBytes(payload(i, size(i))); err != nil {
			t.Fatal(err)
		}
	}
	c := j.segs.Load().find(3)
	if c == nil || c.first != 3 || !c.cont {
		t.Fatalf("setup: entry 3 should start the segment that ends entry 2")
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = mustOpen(t, dir, opts)
	if err := j.TruncateBack(2); err != nil {
		t.Fatal(err)
	}
	checkEntries(t, j, 1, 2, size)
	j.crashClose()
	j = mustOpen(t, dir, opts)
	defer closeOK(t, j)
	checkEntries(t, j, 1, 2, size)
}
