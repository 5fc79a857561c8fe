package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// flipCase is one damaged image of a segment file and what the test
// knows about it: the entry the damage lies in and whether a record
// (clean-shutdown record or durable checkpoint) vouches for that entry.
type flipCase struct {
	label    string
	image    []byte
	idx      uint64 // entry damaged
	vouched  bool   // the damage lies below a record: it must be reported
	harmless bool   // the damage may be repaired by a verifying scan (a slot)
}

// flipOutcome runs Verify, then Open and a read of every entry, on dir
// with the segment at path replaced by c.image, and checks the design's
// promise for it: no entry is ever returned altered; damage to a vouched
// entry is reported (Open fails with a CorruptError naming the file, an
// offset and the entry, or the read of the entry fails with ErrCorrupt) and
// never trimmed; Verify agrees with Open and calls a reported journal
// corrupt. It returns "corrupt", "trimmed" or "repaired".
func flipOutcome(t *testing.T, dir string, pristine map[string][]byte, path string, n uint64, size func(uint64) int, c flipCase) string {
	t.Helper()
	damage := func() {
		restoreDir(t, dir, pristine)
		if err := os.WriteFile(path, c.image, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	damage()
	rep := verifyAgrees(t, dir, c.label)
	// verifyAgrees ran Open's recovery, which may have sealed the segment
	// and rewritten the meta file: damage the pristine journal again and
	// look at what Open itself says.
	damage()
	j, err := Open(dir, testOpts())
	if err != nil {
		var ce *CorruptError
		if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: Open = %v, want a CorruptError", c.label, err)
		}
		if ce.Path != path || ce.Offset < 0 || ce.Index != c.idx {
			t.Fatalf("%s: Open's error names %s offset %d index %d, want %s, an offset, index %d", c.label, ce.Path, ce.Offset, ce.Index, path, c.idx)
		}
		if rep.Verdict != VerdictCorrupt {
			t.Fatalf("%s: Open fails but Verify says %v", c.label, rep.Verdict)
		}
		return "corrupt"
	}
	defer closeOK(t, j)
	var bad []uint64
	for i := j.FirstIndex(); i <= j.LastIndex(); i++ {
		got, err := j.ReadBytes(i, nil)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: read %d: %v, want ErrCorrupt", c.label, i, err)
			}
			bad = append(bad, i)
			continue
		}
		if !bytes.Equal(got, payload(i, size(i))) {
			t.Fatalf("%s: entry %d returned altered", c.label, i)
		}
	}
	switch {
	case j.LastIndex() == n && len(bad) == 1 && bad[0] == c.idx:
		if rep.Verdict != VerdictCorrupt {
			t.Fatalf("%s: the read of entry %d fails but Verify says %v", c.label, c.idx, rep.Verdict)
		}
		return "corrupt"
	case j.LastIndex() == n && len(bad) == 0:
		if !c.harmless {
			t.Fatalf("%s: damage to entry %d not detected", c.label, c.idx)
		}
		return "repaired"
	case j.LastIndex() == c.idx-1 && len(bad) == 0 && !c.vouched:
		if rep.Verdict != VerdictTornTail {
			t.Fatalf("%s: Open trims at entry %d but Verify says %v", c.label, c.idx, rep.Verdict)
		}
		return "trimmed"
	}
	t.Fatalf("%s: Open presents [%d,%d] with unreadable entries %v (the damage is in entry %d of %d, vouched %v): acknowledged entries dropped",
		c.label, j.FirstIndex(), j.LastIndex(), bad, c.idx, n, c.vouched)
	return ""
}

// saveDir returns the content of every file of dir but LOCK.
func saveDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, n := range names {
		if n.Name() == "LOCK" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, n.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[n.Name()] = b
	}
	return out
}

// restoreDir makes dir hold exactly the files saveDir saved (and LOCK).
func restoreDir(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, ok := files[n.Name()]; !ok && n.Name() != "LOCK" {
			if err := os.Remove(filepath.Join(dir, n.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// flipBits returns the images of orig with one bit flipped in [from, to):
// every bit of each byte when every is set, else one bit per byte, a
// different one at each offset (for payload bytes, which only the
// payload's checksum covers: every flip there takes the same path).
func flipBits(orig []byte, from, to int64, every bool) (images [][]byte, labels []string) {
	for off := from; off < to; off++ {
		for bit := range 8 {
			if !every && bit != int(off%8) {
				continue
			}
			b := bytes.Clone(orig)
			b[off] ^= 1 << bit
			images = append(images, b)
			labels = append(labels, fmt.Sprintf("bit %d at %d", bit, off))
		}
	}
	return images, labels
}

// TestCleanCloseLastEntryBitFlips flips, one at a time, every bit of the
// last entry of a cleanly closed journal (its chunk header, its payload and
// its slot) and copies other frames over its chunk. The clean-shutdown
// record proves the entry was acknowledged, so each damage must be reported
// (Open fails, or the entry's read fails, with ErrCorrupt naming file,
// offset and index; Verify says corrupt, spool verify exits 4), or, for the
// slot, which a scan rebuilds, repaired; never trimmed as a torn tail.
// Before the fix a flip in the last chunk's header made recovery distrust
// the record, scan, and silently drop the entry.
func TestCleanCloseLastEntryBitFlips(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, testOpts())
	const n = 3
	size := func(uint64) int { return 100 }
	for i := uint64(1); i <= n; i++ {
		if _, err := j.AppendBytes(payload(i, size(i))); err != nil {
			t.Fatal(err)
		}
	}
	s := j.active
	ext := entryExtents(t, s)
	path, slot := s.path, s.slotOff(n-1)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	pristine := saveDir(t, dir)
	orig := pristine[filepath.Base(path)]
	var cases []flipCase
	add := func(from, to int64, every, harmless bool) {
		images, labels := flipBits(orig, from, to, every)
		for i := range images {
			cases = append(cases, flipCase{label: labels[i], image: images[i], idx: n, vouched: true, harmless: harmless})
		}
	}
	hdr := ext[n-1][0]
	add(hdr, hdr+chunkHeaderSize, true, false)          // the chunk header, every bit
	add(hdr+chunkHeaderSize, ext[n-1][1], false, false) // the payload
	add(slot, slot+slotSize, true, true)                // the slot: a scan rebuilds it
	for k := range n - 1 {
		b := bytes.Clone(orig)
		copy(b[ext[n-1][0]:], orig[ext[k][0]:ext[k][1]])
		cases = append(cases, flipCase{label: fmt.Sprintf("frame of entry %d copied over entry %d", k+1, n), image: b, idx: n, vouched: true})
	}
	counts := map[string]int{}
	for _, c := range cases {
		counts[flipOutcome(t, dir, pristine, path, n, size, c)]++
	}
	if counts["corrupt"] == 0 {
		t.Fatal("no damage reported")
	}
	t.Logf("%d damaged images of the last entry: %v", len(cases), counts)
}

// TestCrashedLastRoundBitFlips flips bits of the entries of a crashed
// journal's active segment after two sync rounds (every bit of the chunk
// headers on either side of the checkpoint's bound and of the last entry,
// one bit per byte elsewhere). A sync round writes the
// checkpoint of the prefix the previous round made durable, so after the
// crash the checkpoint vouches for the first round's entries: damage there
// must be reported. The entries of the last round before the crash were
// acknowledged too, but no record on the disk vouches for them yet: a
// damaged chunk there cannot be told from a torn write of that round, and
// recovery may trim the log before it (docs/decisions.md, "Damage the
// records vouch for"). The test asserts exactly that: reported or trimmed
// at the damaged entry, never altered, never more than that entry and
// those after it dropped.
func TestCrashedLastRoundBitFlips(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, testOpts()) // PageCache: rounds only on Sync
	size := func(i uint64) int { return 20 + int(i)*3 }
	const round1, n = 2, 4
	for i := uint64(1); i <= n; i++ {
		if _, err := j.AppendBytes(payload(i, size(i))); err != nil {
			t.Fatal(err)
		}
		if i == round1 || i == n {
			if err := j.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if j.Durable() != n {
		t.Fatalf("durable %d after the second round, want %d", j.Durable(), n)
	}
	s := j.active
	ext := entryExtents(t, s)
	path, salt, ckpt := s.path, s.salt, s.ckpt
	j.crashClose()
	pristine := saveDir(t, dir)
	orig := pristine[filepath.Base(path)]
	c, ok := decodeCheckpoint(orig[ckpt:], salt)
	if !ok || c.count < round1 {
		t.Fatalf("checkpoint %+v (valid %v): the second round must record the first round's %d entries", c, ok, round1)
	}
	counts := map[string]int{}
	gap := map[uint64]bool{}
	for i, r := range ext {
		idx := uint64(i + 1)
		vouched := idx <= uint64(c.count)
		for _, part := range []struct {
			from, to int64
			every    bool
		}{{r[0], r[0] + chunkHeaderSize, idx == round1 || idx == n}, {r[0] + chunkHeaderSize, r[1], false}} {
			images, labels := flipBits(orig, part.from, part.to, part.every)
			for k := range images {
				out := flipOutcome(t, dir, pristine, path, n, size, flipCase{label: fmt.Sprintf("entry %d: %s", idx, labels[k]), image: images[k], idx: idx, vouched: vouched})
				counts[out]++
				if out == "trimmed" {
					gap[idx] = true
				}
			}
		}
	}
	t.Logf("checkpoint vouches for %d of %d entries; outcomes %v; entries of the last round trimmed when damaged: %v", c.count, n, counts, gap)
}

// TestCleanRecordNotTrustedIsDropped checks that a clean-shutdown record
// recovery could not use (the last entry spans segments, so the segment
// is scanned) does not outlive that Open: a clean record vouches for the
// data below it, so one left naming a segment that later changes would
// make a later recovery report damage that is not there.
func TestCleanRecordNotTrustedIsDropped(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, testOpts())
	if _, err := j.AppendBytes(payload(1, testSegSize*3/2)); err != nil { // spans two segments
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = mustOpen(t, dir, testOpts())
	if j.cleanPending {
		t.Fatal("a last segment holding a continuation was trusted without a scan")
	}
	j.meta.mu.Lock()
	clean := j.meta.state.clean
	j.meta.mu.Unlock()
	if clean.segID != 0 {
		t.Fatalf("clean record %+v kept after the segment it names was scanned", clean)
	}
	checkEntries(t, j, 1, 1, func(uint64) int { return testSegSize * 3 / 2 })
	mustClose(t, j)
	if names, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(names) != 2 {
		t.Fatalf("%d segments, want 2", len(names))
	}
}

// TestOpenRefusesUnrelatedDirectory checks that Open creates no journal in
// a directory that holds someone else's files (a mistyped path), unless
// Options.AllowNonEmpty says so; that what a directory prepared for a
// journal may hold is tolerated; and that a journal's own directory opens
// whatever else it holds.
func TestOpenRefusesUnrelatedDirectory(t *testing.T) {
	for _, tc := range []struct {
		files, dirs []string
		refused     []string // the names the error lists; nil: Open succeeds
	}{
		{files: []string{"notes.txt"}, refused: []string{"notes.txt"}},
		{dirs: []string{"snapshots"}, refused: []string{"snapshots"}},
		{files: []string{"b", "a", ".hidden"}, dirs: []string{"lost+found"}, refused: []string{"a", "b"}},
		{files: []string{"LOCK", ".DS_Store", "META.tmp", "spare-1.seg.tmp"}, dirs: []string{"lost+found", ".snapshot"}},
	} {
		dir := t.TempDir()
		for _, f := range tc.files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for _, d := range tc.dirs {
			if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		j, err := Open(dir, testOpts())
		if tc.refused == nil {
			if err != nil {
				t.Fatalf("%v %v: %v", tc.files, tc.dirs, err)
			}
			mustClose(t, j)
			continue
		}
		var ne *NotEmptyError
		if !errors.Is(err, ErrNotEmpty) || !errors.As(err, &ne) || ne.Dir != dir || !slices.Equal(ne.Names, tc.refused) {
			t.Fatalf("%v %v: Open = %v, want a NotEmptyError listing %v", tc.files, tc.dirs, err, tc.refused)
		}
		if _, err := os.Stat(filepath.Join(dir, metaName)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("refused Open left a META file: %v", err)
		}
		if _, err := os.Stat(filepath.Join(dir, "LOCK")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("refused Open left the LOCK file it created: %v", err)
		}
		o := testOpts()
		o.AllowNonEmpty = true
		j = mustOpen(t, dir, o)
		if _, err := j.AppendBytes([]byte("x")); err != nil {
			t.Fatal(err)
		}
		mustClose(t, j)
		// Now the directory holds a journal: it opens without the option,
		// with the unrelated files still beside it.
		j = mustOpen(t, dir, testOpts())
		if j.LastIndex() != 1 {
			t.Fatalf("last %d after reopen", j.LastIndex())
		}
		mustClose(t, j)
	}
}
