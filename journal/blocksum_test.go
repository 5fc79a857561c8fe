package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoolhq/spool/stream"
)

// blockSegSize is the segment size of the block-sum tests: room for chunks
// of many blocks, small enough that entries span segments cheaply.
const blockSegSize = 256 << 10

func blockOpts() *Options {
	return &Options{SegmentSize: blockSegSize, Sync: PageCache, MaxEntrySize: 8 << 20}
}

// chunkInfo locates one chunk of an entry.
type chunkInfo struct {
	seg *segment
	off int64
	h   chunkHeader
}

// entryChunks returns the chunks of entry idx of an open journal, in order.
func entryChunks(t *testing.T, j *Journal, idx uint64) []chunkInfo {
	t.Helper()
	ss := j.segs.Load()
	s := ss.find(idx)
	if s == nil {
		t.Fatalf("entry %d: no segment", idx)
	}
	if err := s.ensure(); err != nil {
		t.Fatal(err)
	}
	off := s.slot(uint32(idx - s.first))
	var out []chunkInfo
	for {
		h, ok := decodeChunkHeader(s.data[off:], s.salt)
		if !ok || h.index != idx {
			t.Fatalf("entry %d: no chunk at %s:%d", idx, s.path, off)
		}
		out = append(out, chunkInfo{s, off, h})
		if h.kind == kindFull || h.kind == kindLast {
			return out
		}
		if s = ss.next(s); s == nil {
			t.Fatalf("entry %d: continuation missing", idx)
		}
		if err := s.ensure(); err != nil {
			t.Fatal(err)
		}
		off = dataStart
	}
}

// checkChunkForms asserts that every chunk of entry idx carries block sums
// exactly when it holds more than a block (format 3), and returns how many
// chunks it has.
func checkChunkForms(t *testing.T, j *Journal, idx uint64) int {
	t.Helper()
	cs := entryChunks(t, j, idx)
	for _, c := range cs {
		if want := c.h.length > blockSize; c.h.blocks() != want {
			t.Fatalf("entry %d: chunk of %d bytes (kind %d) has block sums %v, want %v", idx, c.h.length, c.h.kind, c.h.blocks(), want)
		}
	}
	return len(cs)
}

// readAllWays reads entry idx through ReadBytes, Get (Bytes, Reader,
// AppendTo), Read and an Iterator and compares each with want.
func readAllWays(t *testing.T, j *Journal, idx uint64, want []byte) {
	t.Helper()
	got, err := j.ReadBytes(idx, nil)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("entry %d (%d bytes): ReadBytes: %d bytes, %v", idx, len(want), len(got), err)
	}
	v, err := j.Get(idx)
	if err != nil {
		t.Fatal(err)
	}
	if v.Size() != int64(len(want)) {
		t.Fatalf("entry %d: Size %d, want %d", idx, v.Size(), len(want))
	}
	if b, ok := v.Bytes(); ok && !bytes.Equal(b, want) {
		t.Fatalf("entry %d: Bytes differs", idx)
	} else if !ok && len(entryChunks(t, j, idx)) == 1 {
		t.Fatalf("entry %d: Bytes refused a one-chunk entry", idx)
	}
	// Half through the reader, then a copy of the whole: the copy does not
	// move the reader.
	r := v.Reader()
	half := make([]byte, len(want)/2)
	if _, err := io.ReadFull(r, half); err != nil || !bytes.Equal(half, want[:len(half)]) {
		t.Fatalf("entry %d: first half through Reader: %v", idx, err)
	}
	if cp, err := v.AppendTo(nil); err != nil || !bytes.Equal(cp, want) {
		t.Fatalf("entry %d: AppendTo: %v", idx, err)
	}
	rest, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(rest, want[len(half):]) {
		t.Fatalf("entry %d: rest through Reader: %d bytes, %v", idx, len(rest), err)
	}
	v.Release()
	if err := j.Read(idx, func(r *stream.Reader) error {
		b, err := io.ReadAll(r)
		if err == nil && !bytes.Equal(b, want) {
			err = errors.New("differs")
		}
		return err
	}); err != nil {
		t.Fatalf("entry %d: Read: %v", idx, err)
	}
	it := j.Iter(idx)
	if !it.Next() {
		t.Fatalf("entry %d: iterator: %v", idx, it.Err())
	}
	b, err := io.ReadAll(it.Reader())
	if err != nil || !bytes.Equal(b, want) {
		t.Fatalf("entry %d: iterator reader: %v", idx, err)
	}
	closeOK(t, it)
}

// Entries of every size around the block boundaries, one chunk or
// spanning segments (first, middle and last chunks each with their own
// block sums), appended in one piece, streamed in odd pieces and sized,
// read back every way, after a clean reopen, after a crash (recovery scans
// the last segment) and by Verify.
func TestBlockSumsRoundTrip(t *testing.T) {
	sizes := []int{0, 1, blockSize - 1, blockSize, blockSize + 1, 2*blockSize - 1, 2 * blockSize, 2*blockSize + 1,
		5*blockSize + 7, blockSegSize - 8192, blockSegSize + 1000, 3*blockSegSize + 12345, 100}
	dir := t.TempDir()
	j := mustOpen(t, dir, blockOpts())
	var want [][]byte
	idx := uint64(0)
	for mode := range 3 {
		for _, n := range sizes {
			p := payload(uint64(mode*1000+n), n)
			var err error
			switch mode {
			case 0:
				idx, err = j.AppendBytes(p)
			case 1: // odd write sizes cross block and window boundaries
				idx, err = j.Append(func(w *stream.Writer) error {
					for q := p; len(q) > 0; {
						k := min(len(q), 1237)
						if _, err := w.Write(q[:k]); err != nil {
							return err
						}
						q = q[k:]
					}
					return nil
				})
			case 2:
				idx, err = j.AppendSized(int64(n), func(w *stream.Writer) error {
					_, err := w.Write(p)
					return err
				})
			}
			if err != nil {
				t.Fatalf("append %d bytes (mode %d): %v", n, mode, err)
			}
			want = append(want, p)
		}
	}
	spanning := 0
	check := func(j *Journal) {
		t.Helper()
		for i, p := range want {
			if checkChunkForms(t, j, uint64(i+1)) > 2 {
				spanning++
			}
			readAllWays(t, j, uint64(i+1), p)
		}
	}
	check(j)
	if spanning == 0 {
		t.Fatal("no entry has a middle chunk")
	}
	mustSync(t, j)
	mustClose(t, j)
	if rep := verifyAgrees(t, dir, "clean"); rep.Verdict != VerdictClean || rep.Entries() != idx {
		t.Fatalf("Verify: %v, %d entries: %v", rep.Verdict, rep.Entries(), rep.Problem)
	}
	j = mustOpen(t, dir, blockOpts())
	check(j)
	// Entries after a crash: the last segment is scanned.
	for i, n := range sizes {
		p := payload(uint64(9000+i), n)
		if _, err := j.AppendBytes(p); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	mustSync(t, j)
	j.crashClose()
	j = mustOpen(t, dir, blockOpts())
	defer mustClose(t, j)
	check(j)
}

// largeEntryJournal writes a journal holding a large entry (index 2)
// between two small ones and closes it; it returns the directory, the
// entry's payload and its chunk.
func largeEntryJournal(t *testing.T, size int, opts *Options) (dir string, want []byte, c chunkInfo) {
	dir = t.TempDir()
	j := mustOpen(t, dir, opts)
	mustAppend(t, j, []byte("before"))
	want = payload(7, size)
	if _, err := j.AppendBytes(want); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, j, []byte("after"))
	cs := entryChunks(t, j, 2)
	if len(cs) != 1 || !cs[0].h.blocks() {
		t.Fatalf("entry of %d bytes: %d chunks, block sums %v", size, len(cs), cs[0].h.blocks())
	}
	c = cs[0]
	mustClose(t, j)
	return dir, want, c
}

// A reader of the first 64 bytes of a 16 MiB entry verifies only the first
// block: with a block near the end damaged, the first bytes (and the
// entry's size) still read, and reading on reports the damaged block,
// with its offset, as ErrCorrupt. Before format 3, the read failed at once:
// the whole entry was hashed first.
func TestBlockSumsPartialRead(t *testing.T) {
	const size = 16 << 20
	opts := &Options{SegmentSize: 32 << 20, Sync: PageCache, MaxEntrySize: 32 << 20}
	dir, want, c := largeEntryJournal(t, size, opts)
	bad := int64(size - 3*blockSize - 5) // in the third block from the end
	badBlock := bad / blockSize
	badOff := c.off + chunkHeaderSize + badBlock*blockSize
	patchFile(t, c.seg.path, func(b []byte) { b[c.off+chunkHeaderSize+bad] ^= 0x40 })

	j := mustOpen(t, dir, opts)
	defer mustClose(t, j)
	v, err := j.Get(2)
	if err != nil {
		t.Fatalf("Get of an entry damaged near its end: %v", err)
	}
	if v.Size() != size {
		t.Fatalf("Size %d", v.Size())
	}
	head := make([]byte, 64)
	if _, err := io.ReadFull(v.Reader(), head); err != nil || !bytes.Equal(head, want[:64]) {
		t.Fatalf("first 64 bytes: %v", err)
	}
	if _, ok := v.Bytes(); ok {
		t.Fatal("Bytes returned a damaged entry")
	}
	n, err := io.Copy(io.Discard, v.Reader())
	var ce *CorruptError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Offset != badOff || ce.Index != 2 {
		t.Fatalf("reading on: %v (%#v), want ErrCorrupt at offset %d", err, ce, badOff)
	}
	if got := 64 + n; got != badBlock*blockSize {
		t.Fatalf("read %d bytes before the error, want the %d before the damaged block", got, badBlock*blockSize)
	}
	v.Release()
	if _, err := j.ReadBytes(2, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadBytes of the damaged entry: %v", err)
	}
	// The neighbours read.
	readAllWays(t, j, 1, []byte("before"))
	readAllWays(t, j, 3, []byte("after"))
	if debugPoison {
		// spooldebug builds serve Read a copy of the whole entry, to
		// poison it after the callback: the copy verifies every block.
		return
	}
	if err := j.Read(2, func(r *stream.Reader) error {
		b, err := r.Next(64)
		if err == nil && !bytes.Equal(b, want[:64]) {
			err = errors.New("differs")
		}
		return err
	}); err != nil {
		t.Fatalf("Read of the first 64 bytes: %v", err)
	}
}

// Damage in any block, in the block sums or in the header of a block-summed
// chunk, single or spanning, is found by reads (at the damaged block, the
// blocks before it still read), by Verify, and by the recovery scan, which
// reports it below the durable checkpoint.
func TestBlockSumsDamage(t *testing.T) {
	type entry struct {
		size  int
		chunk int // which chunk of the entry to damage
	}
	type place struct {
		name string
		// at returns the offset to flip in the chunk, and the payload
		// bytes a reader gets before the error (-1: the open fails).
		at func(h chunkHeader) (off int64, readable int64)
	}
	places := []place{
		{"block 0", func(h chunkHeader) (int64, int64) { return chunkHeaderSize + 3, 0 }},
		{"middle block", func(h chunkHeader) (int64, int64) { return chunkHeaderSize + 2*blockSize + 9, 2 * blockSize }},
		{"last block", func(h chunkHeader) (int64, int64) {
			last := (blockCount(int64(h.length)) - 1) * blockSize
			return chunkHeaderSize + int64(h.length) - 1, last
		}},
		{"block sums", func(h chunkHeader) (int64, int64) {
			_, sums, _ := chunkSpan(0, h)
			return sums + 8, 0
		}},
		{"header length", func(h chunkHeader) (int64, int64) { return 9, -1 }},
		{"header sum", func(h chunkHeader) (int64, int64) { return 24, -1 }},
	}
	for _, e := range []entry{{5*blockSize + 77, 0}, {3*blockSegSize + 333, 1}, {3*blockSegSize + 333, 2}, {blockSegSize + 5*blockSize, 1}} {
		for _, p := range places {
			for _, crashed := range []bool{false, true} {
				name := fmt.Sprintf("%d_bytes/chunk_%d/%s/crashed=%v", e.size, e.chunk, p.name, crashed)
				t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
					blockDamageCase(t, e.size, e.chunk, p.at, crashed)
				})
			}
		}
	}
}

func blockDamageCase(t *testing.T, size, chunk int, at func(chunkHeader) (int64, int64), crashed bool) {
	opts := blockOpts()
	opts.Sync = SyncEach
	dir := t.TempDir()
	j := mustOpen(t, dir, opts)
	mustAppend(t, j, []byte("before"))
	want := payload(11, size)
	mustAppend(t, j, want)
	for range 3 { // later syncs write a checkpoint covering the entry
		mustAppend(t, j, []byte("after"))
	}
	cs := entryChunks(t, j, 2)
	if chunk >= len(cs) {
		t.Fatalf("entry of %d bytes has %d chunks", size, len(cs))
	}
	c := cs[chunk]
	if !c.h.blocks() {
		t.Fatalf("chunk %d of %d bytes has no block sums", chunk, c.h.length)
	}
	lastSeg := c.seg == j.active
	before := int64(0)
	for _, o := range cs[:chunk] {
		before += int64(o.h.length)
	}
	rel, readable := at(c.h)
	if crashed {
		j.crashClose()
	} else {
		mustClose(t, j)
	}
	patchFile(t, c.seg.path, func(b []byte) { b[c.off+rel] ^= 0x10 })

	rep, err := Verify(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != VerdictCorrupt {
		t.Fatalf("Verify: %v, want corrupt", rep.Verdict)
	}
	j, err = Open(dir, opts)
	if crashed && lastSeg {
		// The scan verifies the whole chunk, below the checkpoint.
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open after a crash: %v, want ErrCorrupt", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer mustClose(t, j)
	if _, err := j.ReadBytes(2, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadBytes: %v, want ErrCorrupt", err)
	}
	v, err := j.Get(2)
	if readable < 0 {
		if err == nil {
			// A damaged continuation header is found when the size is
			// measured, at Get.
			v.Release()
			t.Fatal("Get of an entry with a damaged chunk header succeeded")
		}
		return
	}
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	defer v.Release()
	n, err := io.Copy(io.Discard, v.Reader())
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reading: %v, want ErrCorrupt", err)
	}
	if n != before+readable {
		t.Fatalf("read %d bytes before the error, want %d", n, before+readable)
	}
	readAllWays(t, j, 1, []byte("before"))
}

// chunkCap gives the largest payload whose padding and block sums fit, and
// every smaller payload fits too.
func TestChunkCap(t *testing.T) {
	fits := func(p, avail int64) bool {
		if p <= blockSize {
			return p <= avail
		}
		return alignUp(p)+8*blockCount(p) <= avail
	}
	for avail := int64(0); avail < 4*blockSize+100; avail++ {
		c := chunkCap(avail, true)
		if !fits(c, avail) {
			t.Fatalf("avail %d: cap %d does not fit", avail, c)
		}
		for p := c - 64; p < c; p++ {
			if p >= 0 && !fits(p, avail) {
				t.Fatalf("avail %d: cap %d fits but %d does not", avail, c, p)
			}
		}
		for p := c + 1; p < c+64 && p <= avail; p++ {
			if fits(p, avail) {
				t.Fatalf("avail %d: cap %d but %d fits", avail, c, p)
			}
		}
		if chunkCap(avail, false) != avail {
			t.Fatalf("format 2 cap of %d: %d", avail, chunkCap(avail, false))
		}
	}
}

// A journal written in format 2 and adopted as the active segment after a
// clean Close keeps its format: large entries appended to that segment
// carry no block sums (the build that wrote it still reads it), those in
// new segments do.
func TestBlockSumsOldActiveSegment(t *testing.T) {
	dir := t.TempDir()
	untarGz(t, filepath.Join("testdata", "format_v2", "clean.tar.gz"), dir)
	opts := &Options{SegmentSize: fixtureSegSize, Sync: PageCache}
	j := mustOpen(t, dir, opts)
	n := j.LastIndex()
	old := j.active
	p := payload(1, blockSize+5000) // fits in the rest of the adopted segment
	if _, err := j.AppendBytes(p); err != nil {
		t.Fatal(err)
	}
	cs := entryChunks(t, j, n+1)
	if cs[0].seg != old || cs[0].h.blocks() {
		t.Fatalf("entry appended to the format 2 segment: new segment %v, block sums %v", cs[0].seg != old, cs[0].h.blocks())
	}
	q := payload(2, 60000) // does not fit: a new, format 3 segment
	if _, err := j.AppendBytes(q); err != nil {
		t.Fatal(err)
	}
	if cs := entryChunks(t, j, n+2); !cs[len(cs)-1].h.blocks() {
		t.Fatal("entry in a new segment has no block sums")
	}
	mustClose(t, j)
	j = mustOpen(t, dir, opts)
	defer mustClose(t, j)
	readAllWays(t, j, n+1, p)
	readAllWays(t, j, n+2, q)
	b, err := os.ReadFile(old.path)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := decodeSegHeader(b); err != nil || h.version != 2 {
		t.Fatalf("adopted segment: %+v %v", h, err)
	}
}
