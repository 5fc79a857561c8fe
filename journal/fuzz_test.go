package journal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// fuzzMaxEntry is the MaxEntrySize of journals reopened by the fuzz
// targets: the allocation bound they assert, far below the gigabytes a
// damaged length field can claim.
const fuzzMaxEntry = 1 << 20

// fuzzDir returns a fresh directory for a fuzz execution, on tmpfs when
// the machine has one (/dev/shm): fuzzing tests decoding, not durability,
// and every Open and Close syncs, which on a real disk is most of an
// execution's time (30 s instead of 2 s for 1000 executions of FuzzVerify).
func fuzzDir(t testing.TB) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "spool-fuzz-"); err == nil {
			t.Cleanup(func() {
				if err := os.RemoveAll(d); err != nil {
					t.Errorf("removing the fuzz directory: %v", err)
				}
			})
			return d
		}
	}
	return t.TempDir()
}

// allocDuring returns the bytes of heap that fn allocates (TotalAlloc,
// process-wide: nothing else may run meanwhile).
func allocDuring(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// FuzzChunkHeader decodes arbitrary bytes as a chunk header: never a panic,
// and a header that decodes re-encodes to the same bytes.
func FuzzChunkHeader(f *testing.F) {
	var b [chunkHeaderSize]byte
	h := chunkHeader{length: 100, kind: kindFull, index: 7, sum: 42}
	h.encode(b[:], 99)
	f.Add(b[:], uint64(99))
	f.Add(make([]byte, chunkHeaderSize), uint64(0))
	f.Add([]byte{1, 2, 3}, uint64(1))
	h = chunkHeader{length: 3*blockSize + 5, kind: kindFirst, flags: chunkFlagBlocks, index: 9, sum: 77} // format 3, block sums
	h.encode(b[:], 5)
	f.Add(b[:], uint64(5))
	f.Fuzz(func(t *testing.T, data []byte, salt uint64) {
		h, ok := decodeChunkHeader(data, salt)
		if !ok {
			return
		}
		var out [chunkHeaderSize]byte
		h.encode(out[:], salt)
		if !bytes.Equal(out[:], data[:chunkHeaderSize]) {
			t.Fatalf("decoded header re-encodes differently")
		}
	})
}

// FuzzSegmentHeaderTrailer decodes arbitrary bytes as a segment header and
// a trailer.
func FuzzSegmentHeaderTrailer(f *testing.F) {
	var hb [headerSize]byte
	(&segHeader{version: FormatVersion, journalID: 1, segID: 2, base: 3, size: 1 << 20}).encode(hb[:])
	f.Add(hb[:])
	var tb [trailerSize]byte
	(&segTrailer{journalID: 1, segID: 2, firstStart: 3, count: 4, dataEnd: 5000}).encode(tb[:])
	f.Add(tb[:])
	f.Add([]byte("SPOOLSEG"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if h, err := decodeSegHeader(data); err == nil {
			if h.size < minSegmentSize || h.size > maxSegmentSize || h.version > FormatVersion {
				t.Fatalf("accepted out-of-range header %+v", h)
			}
		} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrForeign) && !errors.Is(err, ErrVersion) {
			t.Fatalf("untyped error %v", err)
		}
		if tr, ok := decodeTrailer(data); ok {
			var out [trailerSize]byte
			tr.encode(out[:])
			if tr2, ok := decodeTrailer(out[:]); !ok || tr2 != tr {
				t.Fatalf("trailer %+v does not round-trip", tr)
			}
		}
		// The same bytes as a checkpoint, under a salt taken from them.
		if len(data) >= 8 {
			salt := binary.LittleEndian.Uint64(data)
			if c, ok := decodeCheckpoint(data[len(data)%8:], salt); ok {
				var out [ckptSize]byte
				c.encode(out[:], salt)
				if c2, ok := decodeCheckpoint(out[:], salt); !ok || c2 != c {
					t.Fatalf("checkpoint %+v does not round-trip", c)
				}
			}
		}
	})
}

// FuzzSegmentName parses arbitrary directory entry names: a name that
// parses is exactly the name the journal would give that segment, so no
// two names map to one segment.
func FuzzSegmentName(f *testing.F) {
	f.Add(segmentName(1, 1))
	f.Add(segmentName(0xffffffffffffffff, 0x28))
	f.Add("0000000000000001-0000000000000001.seg.tmp")
	f.Add("000000000000000G-0000000000000001.seg")
	f.Add("0000000000000001-000000000000000A.seg")
	f.Fuzz(func(t *testing.T, name string) {
		id, first, ok := parseSegmentName(name)
		if ok && segmentName(id, first) != name {
			t.Fatalf("%q parses as %x-%x, which is named %q", name, id, first, segmentName(id, first))
		}
	})
}

// FuzzMetaSlot decodes arbitrary bytes as a meta slot: typed errors only,
// and a decoded slot re-encodes to a slot that decodes equal.
func FuzzMetaSlot(f *testing.F) {
	var b [metaSlotSize]byte
	st := metaState{generation: 3, journalID: 9, first: 1, minSegID: 1, nextSegID: 4,
		kv: []metaKV{{"term", []byte{1}}, {"vote", []byte("n2")}}}
	st.encode(&b)
	f.Add(b[:])
	f.Add(make([]byte, metaSlotSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMetaSlot(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrForeign) && !errors.Is(err, ErrVersion) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		var out [metaSlotSize]byte
		m.encode(&out)
		m2, err := decodeMetaSlot(out[:])
		if err != nil || len(m2.kv) != len(m.kv) || m2.first != m.first {
			t.Fatalf("re-encoded slot does not decode equal: %v", err)
		}
	})
}

// FuzzOpen writes a valid small journal, overwrites a fuzzed range of one of
// its files with fuzzed bytes, and opens and reads it: Open and every read
// either succeed, returning entries byte-identical to those appended, or
// fail with a typed error. Never a panic.
//
// The journal holds format 3 chunks with block sums: entries of one to two
// blocks, and one spanning two segments.
func FuzzOpen(f *testing.F) {
	f.Add(uint8(0), uint32(0), []byte{0xff})
	f.Add(uint8(1), uint32(4096), []byte("garbage"))
	f.Add(uint8(1), uint32(65472), bytes.Repeat([]byte{0}, 64))
	f.Add(uint8(2), uint32(8), []byte{9, 9, 9, 9})
	f.Add(uint8(1), uint32(4100), []byte{0x80})
	// Damage in the block-summed chunks: a late block, the block sums,
	// the flag, in the scanned last segment (0x80: crashed) and in sealed
	// ones.
	for _, s := range fuzzOpenBlockSeeds(f) {
		f.Add(s.which, s.off, s.patch)
	}
	f.Fuzz(func(t *testing.T, which uint8, off uint32, patch []byte) {
		dir := fuzzDir(t)
		j := fuzzOpenJournal(t, dir)
		crash := which&0x80 != 0
		if crash {
			mustSync(t, j)
			j.crashClose()
		} else {
			mustClose(t, j)
		}
		names, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var files []string
		for _, n := range names {
			if n.Name() != "LOCK" {
				files = append(files, filepath.Join(dir, n.Name()))
			}
		}
		target := files[int(which&0x7f)%len(files)]
		b, err := os.ReadFile(target)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 {
			return
		}
		o := int(off) % len(b)
		copy(b[o:], patch)
		mustWriteFile(t, target, b)

		want := make([][]byte, 41)
		for i := range want {
			want[i] = payload(uint64(i), fuzzOpenSize(uint64(i)))
		}
		buf := make([]byte, 0, 128<<10) // holds any entry that was written
		opts := testOpts()
		opts.MaxEntrySize = fuzzMaxEntry
		var altered, untyped error
		// Whatever the patch claims, recovery and reads allocate no more
		// than the configured maximum entry size (docs/design.md, invariant 6).
		alloc := allocDuring(func() {
			j, err = Open(dir, opts)
			if err != nil {
				return
			}
			for i := j.FirstIndex(); i <= j.LastIndex(); i++ {
				got, err := j.ReadBytes(i, buf[:0])
				if err != nil {
					if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrOutOfRange) && !errors.Is(err, ErrForeign) && !errors.Is(err, ErrVersion) {
						untyped = fmt.Errorf("read %d: untyped error %w", i, err)
					}
					continue
				}
				if i > 40 || !bytes.Equal(got, want[i]) {
					altered = fmt.Errorf("entry %d returned altered", i)
				}
			}
		})
		if alloc > fuzzMaxEntry {
			t.Fatalf("Open and reads allocated %d bytes, more than the maximum entry size %d", alloc, fuzzMaxEntry)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrForeign) && !errors.Is(err, ErrVersion) {
				t.Fatalf("Open: untyped error %v", err)
			}
			return
		}
		defer closeOK(t, j)
		if untyped != nil || altered != nil {
			t.Fatal(errors.Join(untyped, altered))
		}
		// The journal stays writable.
		if _, err := j.AppendBytes([]byte("x")); err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
	})
}

// fuzzOpenSize is the payload size of entry i of FuzzOpen's journal: most
// below a block, every ninth of one to two blocks (block sums), entry 30
// spanning two segments.
func fuzzOpenSize(i uint64) int {
	switch {
	case i == 30:
		return 100 << 10
	case i%9 == 4:
		return blockSize + int(i*300)
	}
	return int(i * 50 % 900)
}

// fuzzOpenJournal writes FuzzOpen's journal, 40 entries, and returns it
// open.
func fuzzOpenJournal(t testing.TB, dir string) *Journal {
	j, err := Open(dir, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 40; i++ {
		mustAppend(t, j, payload(i, fuzzOpenSize(i)))
	}
	return j
}

// fuzzOpenSeed is one input of FuzzOpen.
type fuzzOpenSeed struct {
	which uint8
	off   uint32
	patch []byte
}

// fuzzOpenBlockSeeds returns inputs of FuzzOpen that damage its
// block-summed chunks, found in a copy of its journal.
func fuzzOpenBlockSeeds(f *testing.F) []fuzzOpenSeed {
	dir := fuzzDir(f)
	j := fuzzOpenJournal(f, dir)
	names, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	fileIndex := map[string]uint8{}
	k := uint8(0)
	for _, n := range names {
		if n.Name() != "LOCK" {
			fileIndex[n.Name()] = k
			k++
		}
	}
	var seeds []fuzzOpenSeed
	ss := j.segs.Load()
	for _, s := range ss.segs {
		which := fileIndex[filepath.Base(s.path)]
		if s == j.active {
			which |= 0x80 // crashed: the last segment is scanned
		}
		for off := int64(dataStart); off+chunkHeaderSize <= s.writeOff; {
			h, ok := decodeChunkHeader(s.data[off:], s.salt)
			if !ok {
				break
			}
			payEnd, sums, end := chunkSpan(off, h)
			if h.blocks() {
				seeds = append(seeds,
					fuzzOpenSeed{which, uint32(payEnd - 3), []byte{0x5a}},  // the last block
					fuzzOpenSeed{which, uint32(sums + 8), []byte{1, 2, 3}}, // the block sums
					fuzzOpenSeed{which, uint32(off + 13), []byte{0}},       // the flag, cleared
					fuzzOpenSeed{which, uint32(end - 8), make([]byte, 8)})  // the last sum, zeroed
			}
			off = alignUp(end)
		}
	}
	if err := j.Close(); err != nil {
		f.Fatal(err)
	}
	if len(seeds) == 0 {
		f.Fatal("FuzzOpen's journal has no chunk with block sums")
	}
	return seeds
}

// hugeLengthCase damages one length or count field of a closed journal so
// that it claims gigabytes (or billions), recomputing the field's checksum
// so that the claim is not rejected before the length itself is checked.
type hugeLengthCase struct {
	name  string
	apply func(t *testing.T, dir string, j *hugeJournal)
}

// hugeJournal is what the cases need to know about the journal they damage.
type hugeJournal struct {
	id       uint64
	sealed   string // a sealed segment: its path, ID, an entry's chunk offset
	sealedID uint64
	chunkOff int64
	active   string // the last segment
	activeID uint64
}

func patchFile(t *testing.T, path string, fn func(b []byte)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fn(b)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestHugeLengthsAllocateLittle gives every length and count field a file
// holds a value claiming gigabytes, with a valid checksum over it, and
// asserts that Open, reading every entry, and Verify each allocate no more
// than the configured maximum entry size, and report typed errors.
func TestHugeLengthsAllocateLittle(t *testing.T) {
	src := t.TempDir()
	j := mustOpen(t, src, testOpts())
	for i := uint64(1); i <= 150; i++ {
		if _, err := j.AppendBytes(payload(i, 1000)); err != nil {
			t.Fatal(err)
		}
	}
	ss := j.segs.Load().segs
	hj := &hugeJournal{id: j.id, sealed: ss[0].path, sealedID: ss[0].id, chunkOff: ss[0].slot(4),
		active: ss[len(ss)-1].path, activeID: ss[len(ss)-1].id}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	rechunk := func(fn func(h *chunkHeader)) func(*testing.T, string, *hugeJournal) {
		return func(t *testing.T, dir string, hj *hugeJournal) {
			patchFile(t, filepath.Join(dir, filepath.Base(hj.sealed)), func(b []byte) {
				salt := segmentSalt(hj.id, hj.sealedID)
				h, ok := decodeChunkHeader(b[hj.chunkOff:], salt)
				if !ok {
					t.Fatal("no chunk where expected")
				}
				fn(&h)
				h.encode(b[hj.chunkOff:], salt)
			})
		}
	}
	retrail := func(fn func(tr *segTrailer)) func(*testing.T, string, *hugeJournal) {
		return func(t *testing.T, dir string, hj *hugeJournal) {
			patchFile(t, filepath.Join(dir, filepath.Base(hj.sealed)), func(b []byte) {
				tr, ok := decodeTrailer(b[len(b)-trailerSize:])
				if !ok {
					t.Fatal("no trailer")
				}
				fn(&tr)
				tr.encode(b[len(b)-trailerSize:])
			})
		}
	}
	reheader := func(size int64) func(*testing.T, string, *hugeJournal) {
		return func(t *testing.T, dir string, hj *hugeJournal) {
			patchFile(t, filepath.Join(dir, filepath.Base(hj.sealed)), func(b []byte) {
				h, err := decodeSegHeader(b)
				if err != nil {
					t.Fatal(err)
				}
				h.size = size
				h.encode(b)
			})
		}
	}
	remeta := func(fn func(b []byte)) func(*testing.T, string, *hugeJournal) {
		return func(t *testing.T, dir string, hj *hugeJournal) {
			patchFile(t, filepath.Join(dir, metaName), func(b []byte) {
				for slot := 0; slot < 2; slot++ {
					s := b[slot*metaSlotSize : (slot+1)*metaSlotSize]
					fn(s)
					sumSlot(s)
				}
			})
		}
	}
	cases := []hugeLengthCase{
		{"chunk length 4 GiB", rechunk(func(h *chunkHeader) { h.length = 0xfffffff0 })},
		{"chunk length to the segment end", rechunk(func(h *chunkHeader) { h.length = testSegSize - 4096 - 200 })},
		{"chunk kind first (spanning), huge", rechunk(func(h *chunkHeader) { h.kind, h.length = kindFirst, 0xffffff00 })},
		{"trailer count 4 billion", retrail(func(tr *segTrailer) { tr.count = 0xffffffff })},
		{"trailer data end 1 EiB", retrail(func(tr *segTrailer) { tr.dataEnd = 1 << 60 })},
		{"segment size 1 TiB", reheader(1 << 40)},
		{"segment size 1 GiB (the maximum)", reheader(maxSegmentSize)},
		{"meta clean record claims 1 EiB and 4 billion entries", remeta(func(s []byte) {
			binary.LittleEndian.PutUint64(s[88+8:], 1<<60)
			binary.LittleEndian.PutUint32(s[88+16:], 0xffffffff)
		})},
		{"meta cut record claims 1 EiB", remeta(func(s []byte) {
			binary.LittleEndian.PutUint64(s[56:], hj.activeID)
			binary.LittleEndian.PutUint64(s[56+8:], 1<<60)
			binary.LittleEndian.PutUint32(s[56+16:], 0xffffffff)
		})},
		{"meta key count 65535, lengths 64 KiB", remeta(func(s []byte) {
			binary.LittleEndian.PutUint16(s[128:], 0xffff)
			s[130], s[131], s[132] = 0xff, 0xff, 0xff
		})},
		{"meta first index 2^64-1", remeta(func(s []byte) { binary.LittleEndian.PutUint64(s[32:], ^uint64(0)) })},
	}
	opts := testOpts()
	opts.MaxEntrySize = fuzzMaxEntry
	buf := make([]byte, 0, 2000)
	for _, c := range cases {
		dir := t.TempDir()
		copyDir(t, src, dir)
		c.apply(t, dir, hj)
		var openErr error
		var bad int
		alloc := allocDuring(func() {
			j, err := Open(dir, opts)
			if openErr = err; err != nil {
				return
			}
			defer closeOK(t, j)
			for i := j.FirstIndex(); i <= j.LastIndex() && i-j.FirstIndex() < 1000; i++ {
				if _, err := j.ReadBytes(i, buf[:0]); err != nil {
					if !errors.Is(err, ErrCorrupt) {
						t.Errorf("%s: read %d: %v", c.name, i, err)
					}
					bad++
				}
			}
		})
		if openErr != nil && !errors.Is(openErr, ErrCorrupt) && !errors.Is(openErr, ErrForeign) {
			t.Fatalf("%s: Open: %v", c.name, openErr)
		}
		if alloc > fuzzMaxEntry {
			t.Fatalf("%s: Open and reads allocated %d bytes, more than MaxEntrySize %d", c.name, alloc, fuzzMaxEntry)
		}
		var rep *Report
		var verr error
		valloc := allocDuring(func() { rep, verr = Verify(dir, opts) })
		if verr != nil {
			t.Fatalf("%s: Verify: %v", c.name, verr)
		}
		if valloc > fuzzMaxEntry {
			t.Fatalf("%s: Verify allocated %d bytes, more than MaxEntrySize %d", c.name, valloc, fuzzMaxEntry)
		}
		t.Logf("%-55s Open+reads %6d B (open err %v, %d bad reads), Verify %6d B: %v", c.name, alloc, openErr != nil, bad, valloc, rep.Verdict)
	}
}

// FuzzVerify overwrites a fuzzed range of one file of a small journal
// with fuzzed bytes, and may cut the file short. The journal is one of four
// templates: closed cleanly or abandoned as by a crash, each with or
// without a history of TruncateBack and TruncateFront (cut records, stale
// and wholly-compacted segments). Verify must not panic, must change
// nothing, must allocate no more than the maximum entry size, and must
// agree with Open followed by a read of every entry (see verifyAgrees).
func FuzzVerify(f *testing.F) {
	var templates [4]string // bit 0: crashed; bit 1: truncated
	for i := range templates {
		templates[i] = fuzzDir(f)
		j, err := Open(templates[i], testOpts())
		if err != nil {
			f.Fatal(err)
		}
		for k := uint64(1); k <= 24; k++ {
			if _, err := j.AppendBytes(payload(k, sizeOf(k))); err != nil {
				f.Fatal(err)
			}
			if k >= 22 {
				mustSync(f, j) // a checkpoint in the tail
			}
		}
		if i&2 != 0 {
			if err := j.TruncateBack(17); err != nil {
				f.Fatal(err)
			}
			for k := uint64(18); k <= 21; k++ {
				if _, err := j.AppendBytes(payload(k, 500)); err != nil {
					f.Fatal(err)
				}
			}
			if err := j.TruncateFront(9); err != nil {
				f.Fatal(err)
			}
			mustSync(f, j)
		}
		if i&1 != 0 {
			j.crashClose()
		} else if err := j.Close(); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(uint8(0), uint8(0), uint32(0), []byte{0xff}, uint32(0))
	f.Add(uint8(0), uint8(1), uint32(0), make([]byte, headerSize), uint32(0))
	f.Add(uint8(1), uint8(1), uint32(dataStart+200), []byte{0x80}, uint32(0))
	f.Add(uint8(3), uint8(2), uint32(ckptOff), make([]byte, ckptSize), uint32(0))
	f.Add(uint8(2), uint8(1), uint32(0), []byte{}, uint32(dataStart))
	f.Fuzz(func(t *testing.T, tmpl, file uint8, off uint32, patch []byte, shrink uint32) {
		src := templates[int(tmpl)%len(templates)]
		dir := fuzzDir(t)
		copyDir(t, src, dir)
		files := journalFiles(t, dir)
		target := files[int(file)%len(files)]
		b, err := os.ReadFile(target)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 {
			copy(b[int(off)%len(b):], patch)
			if shrink != 0 {
				b = b[:int(shrink)%len(b)]
			}
		}
		if err := os.WriteFile(target, b, 0o644); err != nil {
			t.Fatal(err)
		}
		opts := testOpts()
		opts.MaxEntrySize = fuzzMaxEntry
		var verr error
		alloc := allocDuring(func() { _, verr = Verify(dir, opts) })
		if verr != nil {
			t.Fatalf("Verify: %v", verr)
		}
		if alloc > fuzzMaxEntry {
			t.Fatalf("Verify allocated %d bytes, more than the maximum entry size %d", alloc, fuzzMaxEntry)
		}
		verifyAgrees(t, dir, fmt.Sprintf("template %d: %s patched at %d", int(tmpl)%len(templates), filepath.Base(target), off))
	})
}
