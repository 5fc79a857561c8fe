package journal

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/spoolhq/spool/mmapio/crashfs"
)

// TestCrashStaleFrames runs 100 cycles of truncate-and-re-append on one
// journal: each cycle appends entries, cuts the log back at a random
// boundary, appends entries of exactly the sizes it cut (so new frames
// line up with the old ones), aborts an append of the same size and
// re-appends over the space it zeroed, sometimes compacts the head, and
// then crashes at a random point and recovers from a random image. Every
// recovered entry must be the latest one written at its index: zero stale
// frames.
func TestCrashStaleFrames(t *testing.T) {
	cycles := envInt("SPOOL_CRASH_STALE_CYCLES", 100)
	rng := rand.New(rand.NewPCG(6, 100))
	r := newCrashRun(t, "stale frames", SyncPolicy(rng.IntN(3)))
	defer r.close()
	r.open()
	checked := 0
	for c := 0; c < cycles; c++ {
		if rng.IntN(3) == 0 {
			r.fs.CrashAfter(rng.Int64N(40))
		}
		sizes := make([]int, 2+rng.IntN(6))
		for i := range sizes {
			sizes[i] = []int{8, 100, 3000, 20000, 70000}[rng.IntN(5)]
		}
		steps := []step{{kind: stBatch, sizes: sizes}, {kind: stSync}}
		keep := rng.Float64()
		steps = append(steps, step{kind: stTruncBack, frac: keep})
		cut := sizes[int(keep*float64(len(sizes))):]
		for _, n := range cut {
			steps = append(steps, step{kind: stAppend, sizes: []int{n}})
		}
		if len(cut) > 0 {
			steps = append(steps,
				step{kind: stFailAppend, sizes: []int{cut[0]}},
				step{kind: stAppend, sizes: []int{cut[0]}})
		}
		if rng.IntN(4) == 0 {
			steps = append(steps, step{kind: stTruncFront, frac: rng.Float64()})
		}
		steps = append(steps, step{kind: stWaitDurable})
		for _, s := range steps {
			if !r.do(s) {
				break
			}
		}
		snap := r.crash()
		old := r.fs
		j, img, o := r.recoverImage(snap, crashfs.Random(uint64(c)), fmt.Sprintf("cycle %d", c), -1, nil)
		releaseFS(old)
		checked += int(j.LastIndex() + 1 - j.FirstIndex())
		r.adopt(j, img, o)
	}
	t.Logf("%d cycles, %d recovered entries checked, 0 stale", cycles, checked)
}

// TestCrashCopiedFrameRejected copies valid frames to places where a frame
// with the same index could be expected, and checks that recovery refuses
// them: a frame moved within its segment names the wrong index, and a
// frame of a truncated entry copied into the segment that replaced it has
// the right index and payload checksum but the other segment's salt.
func TestCrashCopiedFrameRejected(t *testing.T) {
	r := newCrashRun(t, "copied frame", PageCache)
	defer r.close()
	r.open()
	for _, s := range []step{
		{kind: stAppend, sizes: []int{500}},
		{kind: stAppend, sizes: []int{700}},
		{kind: stAppend, sizes: []int{900}},
		{kind: stSync},
	} {
		r.do(s)
	}
	seg, off2, len2 := frameOf(t, r.j, 2)
	_, off3, len3 := frameOf(t, r.j, 3)
	stale := readFile(t, r.fs, seg, off3, len3) // entry 3 as first written
	frame2 := readFile(t, r.fs, seg, off2, len2)

	// Within the segment: entry 2's frame where entry 4 would start.
	snap := r.crash()
	img, err := snap.Image(crashfs.AllNew)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, img, seg, off3+int64(alignUp(int64(len3))), frame2)
	j, err := Open(crashDir, r.options(img))
	if err != nil {
		t.Fatal(err)
	}
	if j.LastIndex() != 3 {
		t.Fatalf("a copy of entry 2's frame after entry 3 was accepted: last index %d", j.LastIndex())
	}
	releaseFS(r.fs)
	r.adopt(j, img, r.o)

	// Across segments: cut entry 3 off, append a new entry 3 (into a new
	// segment, by the cut rule), and put the old frame of entry 3 where
	// the new one lies.
	r.do(step{kind: stTruncBack, frac: 0.5}) // keeps entries 1 and 2
	if r.j.LastIndex() != 2 {
		t.Fatalf("truncation kept %d entries", r.j.LastIndex())
	}
	r.do(step{kind: stAppend, sizes: []int{900}})
	seg3, off, _ := frameOf(t, r.j, 3)
	if seg3 == seg {
		t.Fatal("the re-appended entry shares the cut segment")
	}
	snap = r.crash()
	img, err = snap.Image(crashfs.AllOld) // the new entry 3 never reached the disk
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, img, seg3, off, stale)
	j, err = Open(crashDir, r.options(img))
	if err != nil {
		t.Fatal(err)
	}
	// The image outlives the journal on it: j's Close writes to it.
	defer releaseFS(img)
	defer closeOK(t, j)
	if j.LastIndex() != 2 {
		got, _ := j.ReadBytes(3, nil)
		t.Fatalf("the truncated entry 3's frame was accepted in another segment (last index %d, %d bytes)", j.LastIndex(), len(got))
	}
}

// frameOf returns the segment file, offset and length (header and
// payload) of entry idx's single chunk.
func frameOf(t *testing.T, j *Journal, idx uint64) (string, int64, int) {
	t.Helper()
	s, err := j.pinEntry(idx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.unpin()
	off := s.slot(uint32(idx - s.first))
	h, ok := decodeChunkHeader(s.data[off:], s.salt)
	if !ok || h.kind != kindFull {
		t.Fatalf("entry %d: no full chunk at %d", idx, off)
	}
	return filepath.Base(s.path), off, chunkHeaderSize + int(h.length)
}

func readFile(t *testing.T, fs *crashfs.FS, name string, off int64, n int) []byte {
	t.Helper()
	f, err := fs.Open(filepath.Join(crashDir, name), false)
	if err != nil {
		t.Fatal(err)
	}
	defer closeOK(t, f)
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, fs *crashfs.FS, name string, off int64, b []byte) {
	t.Helper()
	f, err := fs.Open(filepath.Join(crashDir, name), true)
	if err != nil {
		t.Fatal(err)
	}
	defer closeOK(t, f)
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
