package journal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entryExtents returns the [start, end) file offsets of every chunk of the
// entries that start in segment s.
func entryExtents(t *testing.T, s *segment) [][2]int64 {
	t.Helper()
	var out [][2]int64
	for i := uint32(0); i < s.count.Load(); i++ {
		off := s.slot(i)
		h, ok := decodeChunkHeader(s.data[off:], s.salt)
		if !ok {
			t.Fatalf("slot %d: bad header", i)
		}
		out = append(out, [2]int64{off, off + chunkHeaderSize + int64(h.length)})
	}
	return out
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	names, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, n.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, n.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTornTailEveryOffset cuts the last frames of an unsealed segment at
// every byte offset (the bytes after the cut never reached the disk, or
// reached it as garbage) and checks that recovery keeps exactly the entries
// wholly before the cut, byte-identical, and that appends then work.
func TestTornTailEveryOffset(t *testing.T) {
	src := t.TempDir()
	j := mustOpen(t, src, testOpts())
	size := func(i uint64) int { return 40 + int(i%4)*30 }
	const n = 12
	for i := uint64(1); i <= n; i++ {
		if _, err := j.AppendBytes(payload(i, size(i))); err != nil {
			t.Fatal(err)
		}
	}
	mustSync(t, j)
	active := j.active
	ext := entryExtents(t, active)
	segPath := active.path
	j.crashClose()
	orig, err := os.ReadFile(segPath)
	if err != nil {
		t.Fatal(err)
	}
	lastThree := ext[len(ext)-3][0]
	end := ext[len(ext)-1][1]
	step := int64(1)
	if testing.Short() {
		step = 7 // the fast tier: every seventh offset
	}
	for _, garbage := range []bool{false, true} {
		for cut := lastThree; cut <= end; cut += step {
			dir := t.TempDir()
			copyDir(t, src, dir)
			torn := bytes.Clone(orig)
			for k := cut; k < end+8; k++ {
				if garbage {
					torn[k] = byte(k*7 + 1)
				} else {
					torn[k] = 0
				}
			}
			name := filepath.Join(dir, filepath.Base(segPath))
			if err := os.WriteFile(name, torn, 0o644); err != nil {
				t.Fatal(err)
			}
			want := uint64(0)
			for i, e := range ext {
				if e[1] <= cut {
					want = uint64(i + 1)
				}
			}
			j, err := Open(dir, testOpts())
			if err != nil {
				t.Fatalf("cut %d: %v", cut, err)
			}
			checkEntries(t, j, 1, want, func(i uint64) int { return size(i) })
			if idx, err := j.AppendBytes([]byte("after")); err != nil || idx != want+1 {
				t.Fatalf("cut %d: append after recovery: %d %v", cut, idx, err)
			}
			j.crashClose()
			j = mustOpen(t, dir, testOpts())
			if j.LastIndex() != want+1 {
				t.Fatalf("cut %d: last %d after second recovery", cut, j.LastIndex())
			}
			mustClose(t, j)
		}
	}
}

// TestEveryBitFlipDetected flips, one at a time, every bit of the bytes a
// sealed segment uses (header, chunks, slots, trailer) and checks that each
// flip is reported (Open fails, or reading some entry fails with
// ErrCorrupt) or, for the trailer, which is redundant with the chunks, that
// recovery rebuilt it by a verifying scan; and that no entry is ever
// returned altered or dropped.
func TestEveryBitFlipDetected(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, testOpts())
	size := func(i uint64) int { return 20 + int(i)*3 }
	const n = 4
	for i := uint64(1); i <= n; i++ {
		mustAppend(t, j, payload(i, size(i)))
	}
	seg := j.active
	if err := j.mu.TryLock(); !err {
		t.Fatal("lock")
	}
	if err := seg.seal(); err != nil {
		t.Fatal(err)
	}
	j.active = nil
	j.mu.Unlock()
	mustAppend(t, j, payload(n+1, size(n+1))) // a second segment after the sealed one
	ext := entryExtents(t, seg)
	path := seg.path
	trailer := seg.trailerOff()
	slotsFrom := seg.slotOff(n - 1)
	mustClose(t, j)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	var ranges [][2]int64
	ranges = append(ranges, [2]int64{0, headerSize})
	ranges = append(ranges, ext...)
	ranges = append(ranges, [2]int64{slotsFrom, trailer + trailerSize})
	flips, repaired := 0, 0
	for _, r := range ranges {
		for off := r[0]; off < r[1]; off++ {
			for bit := 0; bit < 8; bit++ {
				if testing.Short() && bit != int(off%8) {
					continue // the fast tier: one bit per byte, every position across bytes
				}
				flips++
				b := bytes.Clone(orig)
				b[off] ^= 1 << bit
				if err := os.WriteFile(path, b, 0o644); err != nil {
					t.Fatal(err)
				}
				if !flipDetected(t, dir, n+1, size) {
					if off < trailer {
						t.Fatalf("flip of bit %d at offset %d not detected", bit, off)
					}
					repaired++
				}
			}
		}
	}
	mustWriteFile(t, path, orig)
	t.Logf("%d single-bit flips: %d detected, %d trailer flips repaired by a verifying scan", flips, flips-repaired, repaired)
}

func flipDetected(t *testing.T, dir string, n uint64, size func(uint64) int) bool {
	j, err := Open(dir, testOpts())
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrForeign) && !errors.Is(err, ErrVersion) {
			t.Fatalf("open error not typed: %v", err)
		}
		return true
	}
	defer closeOK(t, j)
	if j.LastIndex() != n || j.FirstIndex() != 1 {
		t.Fatalf("range [%d,%d] after a flip: entries silently dropped", j.FirstIndex(), j.LastIndex())
	}
	detected := false
	for i := uint64(1); i <= n; i++ {
		got, err := j.ReadBytes(i, nil)
		if err != nil {
			// Sealed segments are validated on first access, so a
			// damaged header can surface here as well as at Open.
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrForeign) && !errors.Is(err, ErrVersion) {
				t.Fatalf("read %d: untyped error %v", i, err)
			}
			detected = true
			continue
		}
		if !bytes.Equal(got, payload(i, size(i))) {
			t.Fatalf("entry %d returned altered", i)
		}
	}
	return detected
}

// TestCorruptionBelowCheckpointReported damages an acknowledged entry in
// the last, unsealed segment after a crash: recovery must report it, not
// trim the log there as if it were a torn tail.
func TestCorruptionBelowCheckpointReported(t *testing.T) {
	dir := t.TempDir()
	o := testOpts()
	o.Sync = SyncEach // every append syncs; each sync records the previous one's prefix
	j := mustOpen(t, dir, o)
	for i := uint64(1); i <= 10; i++ {
		if _, err := j.AppendBytes(payload(i, 300)); err != nil {
			t.Fatal(err)
		}
	}
	s := j.active
	off := s.slot(2) + chunkHeaderSize + 10 // inside entry 3's payload
	path := s.path
	j.crashClose()
	patchFile(t, path, func(b []byte) { b[off] ^= 0x40 })
	_, err := Open(dir, o)
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.Index != 3 {
		t.Fatalf("Open = %v, want a CorruptError at entry 3", err)
	}
	t.Log(err)
}

// TestDeferredSealLost simulates power loss before a roll's deferred seal
// reached the disk: the trailer of a segment that is not the last is gone.
// With its data intact, recovery rebuilds it by a scan and keeps
// everything; with its data torn mid-way, the log ends at the tear and the
// later segments (never synced, so never acknowledged) are dropped.
func TestDeferredSealLost(t *testing.T) {
	for _, tear := range []bool{false, true} {
		dir := t.TempDir()
		j := mustOpen(t, dir, testOpts())
		size := func(i uint64) int { return 700 + int(i%3)*100 }
		for i := uint64(1); i <= 300; i++ { // several segments
			if _, err := j.AppendBytes(payload(i, size(i))); err != nil {
				t.Fatal(err)
			}
		}
		ss := j.segs.Load().segs
		if len(ss) < 3 {
			t.Fatalf("%d segments", len(ss))
		}
		victim := ss[len(ss)-2]
		vpath, vtrailer := victim.path, victim.trailerOff()
		tornAt := victim.slot(5) + chunkHeaderSize + 3 // inside the 6th entry of the victim
		survivors := victim.first + 5 - 1
		j.crashClose()

		b, err := os.ReadFile(vpath)
		if err != nil {
			t.Fatal(err)
		}
		clear(b[vtrailer:])
		if tear {
			for k := tornAt; k < tornAt+512; k++ {
				b[k] ^= 0xff
			}
		}
		mustWriteFile(t, vpath, b)

		j = mustOpen(t, dir, testOpts())
		want := uint64(300)
		if tear {
			want = survivors
		}
		checkEntries(t, j, 1, want, size)
		if idx, err := j.AppendBytes([]byte("next")); err != nil || idx != want+1 {
			t.Fatalf("tear %v: append after recovery: %d, %v", tear, idx, err)
		}
		mustClose(t, j)
		j = mustOpen(t, dir, testOpts())
		if j.LastIndex() != want+1 {
			t.Fatalf("tear %v: last %d after reopen", tear, j.LastIndex())
		}
		mustClose(t, j)
	}
}

// TestDamagedFiles covers whole-file damage: a zero-filled, truncated or
// foreign segment, and a journal of another journal's segment. Each gets a
// typed error naming the file; none panics.
func TestDamagedFiles(t *testing.T) {
	build := func(t *testing.T) (dir string, segs []string) {
		dir = t.TempDir()
		j := mustOpen(t, dir, testOpts())
		for i := uint64(1); i <= 200; i++ {
			mustAppend(t, j, payload(i, 900))
		}
		for _, s := range j.segs.Load().segs {
			segs = append(segs, s.path)
		}
		mustClose(t, j)
		return dir, segs
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, path string)
		want   error
	}{
		{"zero-filled", func(t *testing.T, p string) { patchFile(t, p, func(b []byte) { clear(b) }) }, ErrCorrupt},
		{"truncated", func(t *testing.T, p string) { truncateFile(t, p, 100) }, ErrCorrupt},
		{"empty", func(t *testing.T, p string) { truncateFile(t, p, 0) }, ErrCorrupt},
		{"foreign", func(t *testing.T, p string) { mustWriteFile(t, p, bytes.Repeat([]byte("not spool "), 7000)) }, ErrForeign},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir, segs := build(t)
			c.damage(t, segs[0]) // an old segment: found by the read that touches it
			j, err := Open(dir, testOpts())
			if err == nil {
				_, err = j.ReadBytes(1, nil)
				if cerr := j.Close(); cerr != nil {
					t.Fatalf("Close after the read: %v", cerr)
				}
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), filepath.Base(segs[0])) {
				t.Fatalf("err = %v, want %v naming the file", err, c.want)
			}
		})
	}
	t.Run("other journal's segment", func(t *testing.T) {
		dirA, segsA := build(t)
		dirB, segsB := build(t)
		b, err := os.ReadFile(segsB[len(segsB)-1])
		if err != nil {
			t.Fatal(err)
		}
		mustWriteFile(t, segsA[len(segsA)-1], b)
		_ = dirB
		if _, err := Open(dirA, testOpts()); !errors.Is(err, ErrForeign) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestSegmentFilledToTheSlots fills a segment so that an entry's chunk ends
// exactly at its slot, the write offset is rounded past it, and the trailer
// must still validate on reopen (found by the SIGKILL test).
func TestSegmentFilledToTheSlots(t *testing.T) {
	for c := 0; c < 32; c++ {
		pad, fill := c%8, 1000+c/8*40
		dir := t.TempDir()
		j := mustOpen(t, dir, testOpts())
		s := func() *segment { mustAppend(t, j, nil); return j.active }()
		// Fill with entries until one more 0..15-byte entry would end at
		// or right before the slot area.
		for {
			count := s.count.Load()
			room := s.trailerOff() - slotSize*int64(count+1) - s.writeOff - chunkHeaderSize
			if room < 2000 && count%2 == 1 {
				mustAppend(t, j, []byte{1}) // make the slot offset ≡ 4 mod 8
				continue
			}
			if room < 2000 {
				p := int(room) - pad
				if p < 0 {
					p = 0
				}
				mustAppend(t, j, make([]byte, p))
				break
			}
			mustAppend(t, j, make([]byte, fill))
		}
		last := j.LastIndex()
		mustAppend(t, j, []byte("next")) // rolls
		mustClose(t, j)
		j = mustOpen(t, dir, testOpts())
		if j.LastIndex() != last+1 {
			t.Fatalf("pad %d: last %d", pad, j.LastIndex())
		}
		if _, err := j.ReadBytes(last, nil); err != nil {
			t.Fatalf("pad %d: %v", pad, err)
		}
		mustClose(t, j)
	}
}
