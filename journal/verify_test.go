package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zeebo/xxh3"
)

// dirImage returns a digest of every file of dir, to show that Verify
// changes nothing (not even the LOCK file's existence).
func dirImage(t testing.TB, dir string) map[string]uint64 {
	t.Helper()
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	img := map[string]uint64{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n.Name()))
		if err != nil {
			t.Fatal(err)
		}
		img[n.Name()] = xxh3.Hash(b)
	}
	return img
}

// openOutcome is what Open followed by a read of every entry reports.
type openOutcome struct {
	err         error // Open's
	first, last uint64
	bad         uint64 // entries whose read failed
}

func openAndReadAll(t testing.TB, dir string, o *Options) openOutcome {
	t.Helper()
	j, err := Open(dir, o)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrForeign) && !errors.Is(err, ErrVersion) {
			t.Fatalf("Open: untyped error %v", err)
		}
		return openOutcome{err: err}
	}
	defer closeOK(t, j)
	out := openOutcome{first: j.FirstIndex(), last: j.LastIndex()}
	for i := out.first; i <= out.last; i++ {
		if _, err := j.ReadBytes(i, nil); err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrForeign) && !errors.Is(err, ErrVersion) {
				t.Fatalf("read %d: untyped error %v", i, err)
			}
			out.bad++
		}
	}
	return out
}

// verifyAgrees runs Verify on dir (checking that it changes nothing), then
// Open and a read of every entry, and fails unless the two agree: Verify
// says Open fails exactly when it does, finds the same index range and the
// same number of unreadable entries, and calls the journal corrupt exactly
// when one of them reports corruption. After Open's recovery a journal with
// no unreadable entry verifies clean. It returns Verify's first report.
func verifyAgrees(t testing.TB, dir, label string) *Report {
	t.Helper()
	before := dirImage(t, dir)
	rep, err := Verify(dir, testOpts())
	if err != nil {
		t.Fatalf("%s: Verify: %v", label, err)
	}
	if !maps.Equal(before, dirImage(t, dir)) {
		t.Fatalf("%s: Verify changed the directory", label)
	}
	got := openAndReadAll(t, dir, testOpts())
	switch {
	case rep.Opens != (got.err == nil):
		t.Fatalf("%s: Verify says opens=%v (%v, problem %v), Open says %v", label, rep.Opens, rep.Verdict, rep.Problem, got.err)
	case got.err != nil:
		if rep.Verdict != VerdictCorrupt && rep.Verdict != VerdictUnsupported {
			t.Fatalf("%s: Open fails (%v) but Verify says %v", label, got.err, rep.Verdict)
		}
		if errors.Is(got.err, ErrVersion) != (rep.Verdict == VerdictUnsupported) {
			t.Fatalf("%s: Open fails with %v, Verify says %v", label, got.err, rep.Verdict)
		}
		if !errors.Is(rep.Problem.Err, sentinelOf(got.err)) {
			t.Fatalf("%s: Verify's problem %v does not match Open's %v", label, rep.Problem.Err, got.err)
		}
		return rep
	case rep.FirstIndex != got.first || rep.LastIndex != got.last:
		t.Fatalf("%s: Verify range [%d,%d], Open [%d,%d]", label, rep.FirstIndex, rep.LastIndex, got.first, got.last)
	case rep.BadEntries != got.bad:
		t.Fatalf("%s: Verify finds %d unreadable entries, reads fail on %d (%v)", label, rep.BadEntries, got.bad, rep.Problem)
	case (got.bad > 0) != (rep.Verdict == VerdictCorrupt || rep.Verdict == VerdictUnsupported):
		t.Fatalf("%s: %d unreadable entries but verdict %v (%v)", label, got.bad, rep.Verdict, rep.Problem)
	}
	if rep.Verdict != VerdictClean && rep.Problem == nil {
		t.Fatalf("%s: verdict %v without a problem", label, rep.Verdict)
	}
	if got.bad == 0 {
		after, err := Verify(dir, testOpts())
		if err != nil || after.Verdict != VerdictClean || after.LastIndex != got.last {
			t.Fatalf("%s: after recovery Verify says %v %v (last %d, want %d), err %v", label, after.Verdict, after.Problem, after.LastIndex, got.last, err)
		}
	}
	return rep
}

func TestVerifyClean(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, testOpts())
	var total int64
	const n = 30
	for i := uint64(1); i <= n; i++ {
		if _, err := j.AppendBytes(payload(i, sizeOf(i))); err != nil {
			t.Fatal(err)
		}
		total += int64(sizeOf(i))
	}
	segs := len(j.segs.Load().segs)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	rep := verifyAgrees(t, dir, "clean")
	if rep.Verdict != VerdictClean || rep.Problem != nil || !rep.Opens {
		t.Fatalf("verdict %v, problem %v", rep.Verdict, rep.Problem)
	}
	if rep.FirstIndex != 1 || rep.LastIndex != n || rep.Entries() != n || rep.Durable != n {
		t.Fatalf("range [%d,%d] durable %d", rep.FirstIndex, rep.LastIndex, rep.Durable)
	}
	if rep.PayloadBytes != total || rep.BadEntries != 0 {
		t.Fatalf("payload %d want %d, bad %d", rep.PayloadBytes, total, rep.BadEntries)
	}
	if len(rep.Segments) != segs || rep.SegmentBytes != int64(segs)*testSegSize {
		t.Fatalf("%d segments of %d bytes, want %d", len(rep.Segments), rep.SegmentBytes, segs)
	}
	for i, s := range rep.Segments {
		want := SegmentSealed
		if i == len(rep.Segments)-1 {
			want = SegmentActive // closed cleanly: trusted, not sealed
		}
		if s.State != want {
			t.Fatalf("segment %d is %v, want %v", i, s.State, want)
		}
	}
	if rep.Meta[0].Current == rep.Meta[1].Current || rep.Meta[0].Err != nil || rep.Meta[1].Err != nil {
		t.Fatalf("meta slots %+v", rep.Meta)
	}
}

func TestVerifyNotFound(t *testing.T) {
	for _, dir := range []string{filepath.Join(t.TempDir(), "missing"), t.TempDir()} {
		if _, err := Verify(dir, nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Verify(%s): %v", dir, err)
		}
	}
}

// crashedJournal writes entries 1..n of size(i) and syncs, appends one
// more and syncs (that round records the first one's checkpoint: entries
// up to n), appends extra-1 unsynced entries and abandons the journal as a
// crash would. It returns the extents of the active segment's entries.
func crashedJournal(t *testing.T, dir string, n, extra uint64, size func(uint64) int) (string, [][2]int64) {
	t.Helper()
	j := mustOpen(t, dir, testOpts())
	for i := uint64(1); i <= n+extra; i++ {
		if _, err := j.AppendBytes(payload(i, size(i))); err != nil {
			t.Fatal(err)
		}
		if i == n || i == n+1 {
			mustSync(t, j)
		}
	}
	path, ext := j.active.path, entryExtents(t, j.active)
	j.crashClose()
	return path, ext
}

// TestVerifyTornTail tears the unsynced tail of a crashed journal at every
// offset of its last entries, with zeros and with garbage: Verify agrees
// with Open, calls the tail torn exactly when bytes of a partial entry
// remain (chunk bytes or slots), and names the offset and index where
// recovery cuts.
func TestVerifyTornTail(t *testing.T) {
	src := t.TempDir()
	size := func(i uint64) int { return 40 + int(i%4)*30 }
	segPath, ext := crashedJournal(t, src, 8, 3, size)
	crashed := t.TempDir()
	copyDir(t, src, crashed) // verifyAgrees runs Open, which recovers
	if rep := verifyAgrees(t, crashed, "crashed"); rep.Verdict != VerdictClean || rep.Durable != 8 || rep.Checkpoint == nil || rep.Checkpoint.LastIndex != 8 {
		t.Fatalf("crashed, nothing torn: %v %v durable %d checkpoint %v", rep.Verdict, rep.Problem, rep.Durable, rep.Checkpoint)
	}
	orig, err := os.ReadFile(segPath)
	if err != nil {
		t.Fatal(err)
	}
	from, end := ext[len(ext)-3][0], ext[len(ext)-1][1]
	for _, garbage := range []bool{false, true} {
		// Every other offset per mode: between them, every offset.
		start := from
		if garbage {
			start++
		}
		for cut := start; cut <= end; cut += 2 {
			dir := t.TempDir()
			copyDir(t, src, dir)
			torn := bytes.Clone(orig)
			for k := cut; k < end+8; k++ {
				torn[k] = 0
				if garbage {
					torn[k] = byte(k*7 + 1)
				}
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(segPath)), torn, 0o644); err != nil {
				t.Fatal(err)
			}
			kept := 0 // entries of the segment wholly before the cut
			for i, e := range ext {
				if e[1] <= cut {
					kept = i + 1
				}
			}
			rep := verifyAgrees(t, dir, "torn")
			// With zeros, entries cut at their first byte still leave
			// their slots behind: a torn append too.
			wantTorn := garbage || kept < len(ext)
			if (rep.Verdict == VerdictTornTail) != wantTorn || (!wantTorn && rep.Verdict != VerdictClean) {
				t.Fatalf("cut %d garbage %v: verdict %v (%v), want torn %v", cut, garbage, rep.Verdict, rep.Problem, wantTorn)
			}
			if wantTorn && kept < len(ext) {
				idx := rep.LastIndex + 1
				if rep.Problem.Offset != ext[kept][0] || rep.Problem.Index != idx || rep.Problem.Path != filepath.Join(dir, filepath.Base(segPath)) {
					t.Fatalf("cut %d: problem %v, want offset %d index %d", cut, rep.Problem, ext[kept][0], idx)
				}
			}
		}
	}
}

// TestVerifyBelowCheckpoint damages an entry that the tail's checkpoint
// says was durable: corruption, as Open reports it.
func TestVerifyBelowCheckpoint(t *testing.T) {
	dir := t.TempDir()
	segPath, ext := crashedJournal(t, dir, 8, 2, func(uint64) int { return 100 })
	patchFile(t, segPath, func(b []byte) { b[ext[2][0]+chunkHeaderSize+5] ^= 1 })
	rep := verifyAgrees(t, dir, "below checkpoint")
	if rep.Verdict != VerdictCorrupt || rep.Opens || !errors.Is(rep.Problem.Err, ErrCorrupt) ||
		rep.Problem.Path != segPath || rep.Problem.Offset != ext[2][0] || rep.Problem.Index != 3 {
		t.Fatalf("verdict %v problem %v", rep.Verdict, rep.Problem)
	}
}

// journalFiles returns the META and segment files of dir. A spare
// segment file the background spare maker may or may not have prepared by
// the time the journal closed (spare-N.seg.tmp) is not one of them: which
// files exist must not depend on scheduling.
func journalFiles(t testing.TB, dir string) []string {
	t.Helper()
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, n := range names {
		if _, _, seg := parseSegmentName(n.Name()); seg || n.Name() == metaName {
			files = append(files, filepath.Join(dir, n.Name()))
		}
	}
	return files
}

// damagedJournals builds a journal of several segments with spanning
// entries, closed cleanly or abandoned, and calls fn with a fresh copy of
// it and the copy's files.
func damagedJournals(t *testing.T, fn func(crashed bool, dir string, files []string)) {
	for _, crashed := range []bool{false, true} {
		src := t.TempDir()
		j := mustOpen(t, src, testOpts())
		for i := uint64(1); i <= 16; i++ {
			if _, err := j.AppendBytes(payload(i, sizeOf(i))); err != nil {
				t.Fatal(err)
			}
			if i >= 14 {
				mustSync(t, j) // the tail gets a checkpoint
			}
		}
		if crashed {
			j.crashClose()
		} else {
			mustClose(t, j)
		}
		dir := t.TempDir()
		copyDir(t, src, dir)
		fn(crashed, dir, journalFiles(t, dir))
	}
}

// TestVerifyBitFlips flips single bits across every file (headers,
// chunks, slots, trailers, meta slots, checkpoints) and checks agreement
// with Open and reads.
func TestVerifyBitFlips(t *testing.T) {
	var corrupt, torn, clean int
	damagedJournals(t, func(crashed bool, src string, files []string) {
		for fi := range files {
			info, err := os.Stat(files[fi])
			if err != nil {
				t.Fatal(err)
			}
			size := info.Size()
			// The records at both ends and the first chunks densely, a
			// stride through the rest (TestEveryBitFlipDetected covers every byte of
			// a sealed segment against Open; this checks that Verify agrees).
			var offs []int64
			for o := int64(0); o < size; o++ {
				dense := o < 160 || o >= size-160 || (o >= dataStart && o < dataStart+160) ||
					(o >= metaSlotSize && o < metaSlotSize+160)
				stride := int64(17)
				if testing.Short() {
					stride = 51 // the fast tier
				}
				if (dense && o%stride == 0) || o%8191 == 0 {
					offs = append(offs, o)
				}
			}
			for _, o := range offs {
				dir := t.TempDir()
				copyDir(t, src, dir)
				path := filepath.Join(dir, filepath.Base(files[fi]))
				patchFile(t, path, func(b []byte) { b[o] ^= 1 << (o % 8) })
				rep := verifyAgrees(t, dir, filepath.Base(path)+" flip")
				switch rep.Verdict {
				case VerdictCorrupt:
					corrupt++
				case VerdictTornTail:
					torn++
				default:
					clean++
				}
			}
		}
	})
	t.Logf("bit flips: %d corrupt, %d torn, %d clean (unused bytes, redundant trailer or older meta slot)", corrupt, torn, clean)
	if corrupt == 0 {
		t.Fatal("no flip was found corrupt")
	}
}

// TestVerifyZeroedRecords zeroes whole records: segment headers, trailers,
// checkpoints, each meta slot and both.
func TestVerifyZeroedRecords(t *testing.T) {
	damagedJournals(t, func(crashed bool, src string, files []string) {
		type damage struct {
			name     string
			file     int
			off, n   int64
			wantCorr bool
		}
		var ds []damage
		for fi, f := range files {
			if filepath.Base(f) == metaName {
				ds = append(ds,
					damage{"meta slot 0", fi, 0, metaSlotSize, false},
					damage{"meta slot 1", fi, metaSlotSize, metaSlotSize, false},
					damage{"both meta slots", fi, 0, 2 * metaSlotSize, true})
				continue
			}
			ds = append(ds,
				damage{"header", fi, 0, headerSize, true},
				damage{"checkpoint", fi, ckptOff, ckptSize, false},
				damage{"trailer", fi, testSegSize - trailerSize, trailerSize, false})
		}
		for _, d := range ds {
			dir := t.TempDir()
			copyDir(t, src, dir)
			path := filepath.Join(dir, filepath.Base(files[d.file]))
			patchFile(t, path, func(b []byte) { clear(b[d.off : d.off+d.n]) })
			label := filepath.Base(path) + " zeroed " + d.name
			rep := verifyAgrees(t, dir, label)
			if d.wantCorr && rep.Verdict != VerdictCorrupt {
				t.Fatalf("%s (crashed %v): verdict %v", label, crashed, rep.Verdict)
			}
			if strings.HasPrefix(d.name, "meta slot") && (rep.Verdict != VerdictClean || len(rep.Notes) == 0) {
				t.Fatalf("%s: verdict %v notes %q: one torn meta slot is normal, and noted", label, rep.Verdict, rep.Notes)
			}
		}
	})
}

// TestVerifyLive runs Verify beside a process that has the journal open:
// it takes no lock and changes nothing, and the owner carries on.
func TestVerifyLive(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, testOpts())
	defer closeOK(t, j)
	for i := uint64(1); i <= 20; i++ {
		mustAppend(t, j, payload(i, sizeOf(i)))
	}
	mustSync(t, j)
	rep, err := Verify(dir, testOpts())
	if err != nil || rep.Verdict == VerdictCorrupt || rep.LastIndex != 20 {
		t.Fatalf("live: %v %v last %d: %v", rep.Verdict, rep.Problem, rep.LastIndex, err)
	}
	if _, err := j.AppendBytes([]byte("after verify")); err != nil {
		t.Fatalf("owner append after Verify: %v", err)
	}
	if got, err := j.ReadBytes(21, nil); err != nil || string(got) != "after verify" {
		t.Fatalf("read back %q %v", got, err)
	}
}

// TestVerifyLostSeal removes the trailer of the segment before the last
// (its deferred seal never reached the disk) with its data intact, torn,
// or with a spanning entry's continuation lost: Verify agrees with Open,
// calls the log clean when recovery keeps everything, and torn when
// recovery ends the log early and drops the later segments.
func TestVerifyLostSeal(t *testing.T) {
	for _, tc := range []string{"intact", "torn", "continuation"} {
		dir := t.TempDir()
		j := mustOpen(t, dir, testOpts())
		size := func(i uint64) int {
			if tc == "continuation" && i == 200 {
				return 2 * testSegSize // its middle chunk fills a whole segment
			}
			return 700 + int(i%3)*100
		}
		for i := uint64(1); i <= 300; i++ {
			if _, err := j.AppendBytes(payload(i, size(i))); err != nil {
				t.Fatal(err)
			}
		}
		ss := j.segs.Load().segs
		victim := ss[len(ss)-2]
		if tc == "continuation" {
			victim = ss[slices.Index(ss, j.segs.Load().find(200))+1] // holds entry 200's middle only
		}
		vpath, vtrailer := victim.path, victim.trailerOff()
		tornAt := dataStart + 40
		if victim.count.Load() > 5 {
			tornAt = int(victim.slot(5)) + chunkHeaderSize + 3
		}
		j.crashClose()
		b, err := os.ReadFile(vpath)
		if err != nil {
			t.Fatal(err)
		}
		clear(b[vtrailer:])
		if tc != "intact" {
			for k := tornAt; k < tornAt+512; k++ {
				b[k] ^= 0xff
			}
		}
		mustWriteFile(t, vpath, b)
		rep := verifyAgrees(t, dir, tc)
		if tc == "intact" {
			if rep.Verdict != VerdictClean || rep.LastIndex != 300 {
				t.Fatalf("%s: %v %v last %d", tc, rep.Verdict, rep.Problem, rep.LastIndex)
			}
			continue
		}
		dropped := 0
		for _, s := range rep.Segments {
			if s.State == SegmentDropped {
				dropped++
			}
		}
		if rep.Verdict != VerdictTornTail || dropped == 0 || rep.LastIndex >= 300 {
			t.Fatalf("%s: %v %v, last %d, %d dropped", tc, rep.Verdict, rep.Problem, rep.LastIndex, dropped)
		}
	}
}

// TestVerifyNewerFormat gives a segment header and the meta file a format
// version newer than this build, with valid checksums: the verdict is
// unsupported, not corrupt, and agrees with Open.
func TestVerifyNewerFormat(t *testing.T) {
	for _, which := range []string{"segment", "meta"} {
		dir := t.TempDir()
		j := mustOpen(t, dir, testOpts())
		for i := uint64(1); i <= 150; i++ {
			mustAppend(t, j, payload(i, 1000))
		}
		seg := j.segs.Load().segs[0].path // sealed: Open loads it on first read
		mustClose(t, j)
		if which == "segment" {
			patchFile(t, seg, func(b []byte) {
				h, err := decodeSegHeader(b)
				if err != nil {
					t.Fatal(err)
				}
				h.version = FormatVersion + 1
				h.encode(b)
			})
		} else {
			patchFile(t, filepath.Join(dir, metaName), func(b []byte) {
				for s := 0; s < 2; s++ {
					slot := b[s*metaSlotSize : (s+1)*metaSlotSize]
					binary.LittleEndian.PutUint16(slot[8:], FormatVersion+1)
					sumSlot(slot)
				}
			})
		}
		rep := verifyAgrees(t, dir, which)
		if rep.Verdict != VerdictUnsupported || !errors.Is(rep.Problem.Err, ErrVersion) {
			t.Fatalf("%s: %v %v", which, rep.Verdict, rep.Problem)
		}
	}
}
