package journal

import (
	"fmt"
	"runtime/debug"

	"github.com/spoolhq/spool/mmapio"
	"github.com/spoolhq/spool/stream"
	"github.com/zeebo/xxh3"
)

// maxPinRetries bounds the retries of a lookup racing truncations.
const maxPinRetries = 64

// pinEntry pins the segment in which entry idx starts. The offset of the
// entry's first chunk is its slot there, read by openAt under the fault
// guard (the slot lies in mapped memory too).
func (j *Journal) pinEntry(idx uint64) (*segment, error) {
	for range maxPinRetries {
		first, last := j.first.Load(), j.last.Load()
		if idx < first || idx > last {
			return nil, fmt.Errorf("%w: %d not in [%d, %d]", ErrOutOfRange, idx, first, last)
		}
		s := j.segs.Load().find(idx)
		if s == nil || !s.tryPin() {
			continue // raced a truncation: reload
		}
		if testHookPinned != nil {
			testHookPinned(s)
		}
		if err := s.ensure(); err != nil {
			s.unpin()
			// A cut can drop and unlink a segment the LRU had unmapped
			// between the lookup and the reload, which then fails (the
			// file is gone): the entry left the log, or moved to a
			// segment of the current set.
			if first, last := j.first.Load(), j.last.Load(); idx < first || idx > last {
				return nil, fmt.Errorf("%w: %d not in [%d, %d]", ErrOutOfRange, idx, first, last)
			}
			if j.segs.Load().indexOf(s) < 0 {
				continue
			}
			return nil, err
		}
		if idx-s.first >= uint64(s.count.Load()) {
			s.unpin()
			continue
		}
		// A front cut publishes the new first index before it punches the
		// dead prefix of a segment nothing pins (reap.go): a reader that
		// pinned after the punch's check sees the new first index here,
		// and never reads the zeroed range.
		if first := j.first.Load(); idx < first {
			s.unpin()
			return nil, fmt.Errorf("%w: %d below first index %d", ErrOutOfRange, idx, first)
		}
		return s, nil
	}
	if j.closed.Load() {
		return nil, ErrClosed
	}
	return nil, fmt.Errorf("%w: entry %d: no segment holds it", ErrCorrupt, idx)
}

// testHookPinned, set only by tests before Open and cleared after Close,
// runs in pinEntry between the pin and the load of the segment found.
var testHookPinned func(s *segment)

// View is a pinned, zero-copy view of one entry's payload in the mapped
// segment pages. Its bytes are valid until Release; a View must be released
// exactly once, after which every method returns ErrReleased (and, in builds
// with the spooldebug tag, panics naming where it was released).
//
// A View is not safe for concurrent use.
type View struct {
	j     *Journal
	idx   uint64
	size  int64 // payload bytes of the whole entry
	pins  [2]*segment
	extra []*segment // pins beyond two, for entries spanning many segments
	multi bool       // more chunks follow in later segments

	// at is the first chunk as open found it: its payload (at.pay) is
	// verified whole, or block by block as a cursor reaches each block.
	// whole: every block of it has been verified (Bytes).
	at    blockCursor
	whole bool
	src   aheadCursor // the reader's source (advising ahead, readahead.go)
	r     stream.Reader

	released bool
	debug    debugState
	poison   []byte // spooldebug: the heap copy served in place of the pages
}

// poisonByte fills a borrowed copy once its scope ends (spooldebug).
const poisonByte = 0xDB

// poisonMaxEntry bounds the entries spooldebug builds copy; larger ones
// are served from the pages, unguarded.
const poisonMaxEntry = 64 << 20

// borrowCopy makes the view serve a heap copy of the payload (spooldebug
// builds), which poisonBorrowed overwrites when the borrowing scope ends.
func (v *View) borrowCopy() error {
	if v.size > poisonMaxEntry {
		return nil
	}
	buf, err := v.AppendTo(make([]byte, 0, v.size))
	if err != nil {
		return err
	}
	v.at = blockCursor{v: v, seg: v.at.seg, pay: buf, last: true}
	v.multi, v.whole, v.poison = false, true, buf
	v.r.Reset(nil, buf, int64(len(buf)))
	v.r.SetMaxBytes(v.j.opts.MaxEntrySize)
	return nil
}

// poisonBorrowed overwrites the copy borrowCopy made and empties the
// reader, so later use of either shows up as garbage or a short read.
func (v *View) poisonBorrowed() {
	for i := range v.poison {
		v.poison[i] = poisonByte
	}
	v.poison = nil
	v.r.Reset(nil, nil, 0)
}

func (v *View) pin(s *segment) {
	switch {
	case v.pins[0] == nil:
		v.pins[0] = s
	case v.pins[1] == nil:
		v.pins[1] = s
	default:
		v.extra = append(v.extra, s)
	}
}

func (v *View) unpinAll() {
	for i, s := range v.pins {
		if s != nil {
			s.unpin()
			v.pins[i] = nil
		}
	}
	for _, s := range v.extra {
		s.unpin()
	}
	v.extra = v.extra[:0]
}

// open pins entry idx and checks its first chunk's header. Entries
// spanning segments have every chunk header checked so that the size is
// known. A chunk without block sums is verified whole here; one with them
// block by block, as a reader reaches each block.
func (v *View) open(j *Journal, idx uint64) error {
	s, err := j.pinEntry(idx)
	if err != nil {
		return err
	}
	return v.openAt(j, s, -1, idx)
}

// openAt is open for entry idx, which starts in s, a segment the caller
// has pinned; the pin passes to the view (released on error). The first
// chunk is at off, or, when off is -1, where the entry's slot says (Verify
// passes offsets from its own scan).
func (v *View) openAt(j *Journal, s *segment, off int64, idx uint64) error {
	v.j, v.idx, v.released, v.multi, v.whole = j, idx, false, false, false
	v.pin(s)
	h, off, payload, sums, err := s.firstChunk(off, idx)
	if err != nil {
		v.unpinAll()
		return err
	}
	v.size = int64(h.length)
	v.at = blockCursor{v: v, seg: s, payOff: off + chunkHeaderSize, pay: payload, sums: sums, sum: h.sum, last: h.kind == kindFull}
	if h.kind == kindFirst {
		v.multi = true
		if err := v.measure(s); err != nil {
			v.unpinAll()
			return err
		}
	}
	v.src = aheadCursor{blockCursor: v.at}
	var first []byte
	if sums == nil {
		// Verified whole: the reader's first window.
		first, v.src.pos = payload, len(payload)
	}
	v.r.Reset(&v.src, first, v.size)
	v.r.SetMaxBytes(j.opts.MaxEntrySize)
	return nil
}

// measure walks the chunk headers of a spanning entry, pinning each
// segment, to learn its total size.
func (v *View) measure(s *segment) error {
	for {
		t := v.j.segs.Load().next(s)
		if t == nil || !t.tryPin() {
			return fmt.Errorf("%w: entry %d was truncated while being read", ErrOutOfRange, v.idx)
		}
		v.pin(t)
		if err := t.ensure(); err != nil {
			return err
		}
		h, _, _, err := t.continuation(v.idx, false)
		if err != nil {
			return err
		}
		v.size += int64(h.length)
		if v.size > v.j.opts.MaxEntrySize {
			return corruptf(t.path, dataStart, v.idx, "entry of more than %d bytes", v.j.opts.MaxEntrySize)
		}
		if h.kind == kindLast {
			return nil
		}
		s = t
	}
}

// chunkAt decodes and checks the chunk header at off, which must belong to
// entry idx and be of kind a or b; it returns the header, the payload and
// its block sums (nil for a chunk without them), neither yet verified
// against the header's sum.
func (s *segment) chunkAt(off int64, idx uint64, a, b uint8) (chunkHeader, []byte, []byte, error) {
	if off < dataStart || off+chunkHeaderSize > s.trailerOff() {
		return chunkHeader{}, nil, nil, corruptf(s.path, off, idx, "chunk offset out of range")
	}
	h, ok := decodeChunkHeader(s.data[off:], s.salt)
	if !ok {
		return h, nil, nil, corruptf(s.path, off, idx, "chunk header check failed")
	}
	if h.index != idx {
		return h, nil, nil, corruptf(s.path, off, idx, "chunk belongs to entry %d", h.index)
	}
	if h.kind != a && h.kind != b {
		return h, nil, nil, corruptf(s.path, off, idx, "chunk kind %d where %d or %d expected", h.kind, a, b)
	}
	payEnd, sumsOff, end := chunkSpan(off, h)
	if end > s.trailerOff() {
		return h, nil, nil, corruptf(s.path, off, idx, "chunk length %d runs past the segment", h.length)
	}
	var sums []byte
	if h.blocks() {
		sums = s.data[sumsOff:end:end]
	}
	return h, s.data[off+chunkHeaderSize : payEnd : payEnd], sums, nil
}

// nextWindow hands out the reader's next window (Verify drains entries
// with it).
func (v *View) nextWindow() ([]byte, error) { return v.src.NextWindow() }

// nextPinned returns the pinned segment that follows s.
func (v *View) nextPinned(s *segment) *segment {
	all := append(v.pins[:], v.extra...)
	for i, t := range all {
		if t == s && i+1 < len(all) {
			return all[i+1]
		}
	}
	return nil
}

// Index returns the entry's index.
func (v *View) Index() uint64 { return v.idx }

// Size returns the entry's payload size in bytes.
func (v *View) Size() int64 { return v.size }

// Bytes returns the whole payload without copying when it lies in one
// segment (ok true), once every block of it is verified. An entry that
// spans segments is read through Reader instead, and so is one that fails
// verification: the Reader reports the error, at the damaged block. The
// slice is valid until Release and must not be written to.
func (v *View) Bytes() (b []byte, ok bool) {
	if v.checkReleased() != nil {
		return nil, false
	}
	if v.multi {
		return nil, false
	}
	if !v.whole {
		v.at.adviseChunk()
		if v.at.verifyRest() != nil {
			return nil, false
		}
		v.whole = true
	}
	return v.at.pay, true
}

// Reader returns a stream.Reader over the payload, positioned at its start
// the first time; its borrowed slices are valid until Release.
func (v *View) Reader() *stream.Reader {
	if v.checkReleased() != nil {
		var r stream.Reader
		r.Reset(nil, nil, 0)
		return &r
	}
	return &v.r
}

// AppendTo appends a copy of the payload to dst.
func (v *View) AppendTo(dst []byte) ([]byte, error) {
	if err := v.checkReleased(); err != nil {
		return dst, err
	}
	n := len(dst)
	dst = grow(dst, int(v.size))
	if err := v.copyOut(dst[n:]); err != nil {
		return dst[:n], err
	}
	return dst, nil
}

// Release unpins the entry. The View and every slice obtained from it must
// not be used afterwards.
func (v *View) Release() {
	if v.released {
		v.debug.doubleRelease()
		return
	}
	v.released = true
	v.debug.markReleased()
	v.unpinAll()
	v.dropBorrowed()
}

// dropBorrowed forgets the mapped bytes of a released view.
func (v *View) dropBorrowed() {
	v.at, v.src = blockCursor{}, aheadCursor{}
}

func (v *View) checkReleased() error {
	if v.released {
		v.debug.useAfterRelease()
		return ErrReleased
	}
	return nil
}

func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst[:len(dst)+n]
	}
	out := make([]byte, len(dst)+n)
	copy(out, dst)
	return out
}

// Get returns a pinned view of entry idx. The caller must Release it.
func (j *Journal) Get(idx uint64) (*View, error) {
	v := new(View)
	if err := v.open(j, idx); err != nil {
		return nil, err
	}
	v.debug.track(v)
	return v, nil
}

// Read calls fn with a reader over entry idx's payload, pinned for the
// duration of the call. The reader and any bytes borrowed from it are valid
// only inside fn. Read does not allocate.
func (j *Journal) Read(idx uint64, fn func(r *stream.Reader) error) error {
	v, _ := j.viewPool.Get().(*View)
	if v == nil {
		v = new(View)
	}
	if err := v.open(j, idx); err != nil {
		j.viewPool.Put(v)
		return err
	}
	if debugPoison {
		if err := v.borrowCopy(); err != nil {
			v.unpinAll()
			return err
		}
	}
	err := fn(&v.r)
	v.released = true
	v.unpinAll()
	v.dropBorrowed()
	if debugPoison {
		// A reader kept past the callback stays poisoned: the view is
		// not reused.
		v.poisonBorrowed()
		return err
	}
	j.viewPool.Put(v)
	return err
}

// ReadBytes appends a copy of entry idx's payload to dst.
func (j *Journal) ReadBytes(idx uint64, dst []byte) ([]byte, error) {
	v, _ := j.viewPool.Get().(*View)
	if v == nil {
		v = new(View)
	}
	if err := v.open(j, idx); err != nil {
		j.viewPool.Put(v)
		return dst, err
	}
	dst, err := v.AppendTo(dst)
	v.released = true
	v.unpinAll()
	v.dropBorrowed()
	j.viewPool.Put(v)
	return dst, err
}

// Iterator reads entries in index order. Each entry is pinned from Next
// until the following Next or Close; bytes borrowed from it are valid for
// that long. An Iterator is not safe for concurrent use.
type Iterator struct {
	j    *Journal
	next uint64
	v    View
	have bool
	err  error
	// ahead advises the pages after the current entry (readahead.go).
	ahead iterAhead
}

// Iter returns an iterator positioned before entry from.
func (j *Journal) Iter(from uint64) *Iterator {
	return &Iterator{j: j, next: from}
}

// Next advances to the next entry. It returns false at the end of the
// journal (as of the call) or on error; check Err.
func (it *Iterator) Next() bool {
	if it.have {
		it.release()
	}
	if it.err != nil || it.next > it.j.last.Load() {
		return false
	}
	if err := it.v.open(it.j, it.next); err != nil {
		it.err = err
		return false
	}
	c := &it.v.at
	end := c.payOff + int64(len(c.pay))
	if c.sums != nil {
		end = alignUp(end) + int64(len(c.sums))
	}
	it.ahead.advise(c.seg, it.next, c.payOff-chunkHeaderSize, end)
	if debugPoison {
		if err := it.v.borrowCopy(); err != nil {
			it.v.unpinAll()
			it.err = err
			return false
		}
	}
	it.have = true
	it.next++
	return true
}

// release ends the current entry's borrowing scope.
func (it *Iterator) release() {
	if debugPoison {
		it.v.poisonBorrowed()
	}
	it.v.unpinAll()
	it.have = false
}

// Index returns the current entry's index.
func (it *Iterator) Index() uint64 { return it.v.idx }

// Reader returns a reader over the current entry's payload.
func (it *Iterator) Reader() *stream.Reader { return &it.v.r }

// Bytes returns the current entry's payload without copying, if it lies in
// one segment.
func (it *Iterator) Bytes() ([]byte, bool) { return it.v.Bytes() }

// View returns the current entry's view; it is owned by the iterator and
// must not be released by the caller.
func (it *Iterator) View() *View { return &it.v }

// Err returns the error that stopped the iteration, if any.
func (it *Iterator) Err() error { return it.err }

// Close releases the iterator's pin.
func (it *Iterator) Close() error {
	if it.have {
		it.release()
	}
	it.next = ^uint64(0)
	it.ahead.leave()
	it.ahead = iterAhead{}
	return nil
}

// The journal's own reads of mapped bytes run with memory faults turned
// into errors: a segment file truncated under its mapping by someone else,
// or a page the disk could not supply, raises SIGBUS, and the read returns
// an error naming the file, offset (-1 if unknown) and entry, wrapping both
// ErrCorrupt and mmapio.ErrFault, instead of crashing the process. Only
// the journal's own touches are guarded: bytes handed to the caller
// (View.Bytes, the windows of a Reader inside a Read callback) are read by
// the caller's code, which can run under mmapio.Guard itself.
//
// Each guarded region is a method that defers recoverFault itself rather
// than a closure passed to mmapio.Guard: on 4 KiB sequential reads the
// closure's extra call layers cost about 120 ns an entry, the direct defer
// next to nothing (docs/decisions.md).

// firstChunk reads and decodes the first chunk of entry idx, at off, or
// where the entry's slot says when off is -1, and returns its offset. A
// chunk without block sums is verified whole; one with them is returned
// with its sums, which the blocks are verified against as they are read.
func (s *segment) firstChunk(off int64, idx uint64) (h chunkHeader, at int64, payload, sums []byte, err error) {
	defer recoverFault(&err, s.path, &off, idx, debug.SetPanicOnFault(true))
	if off < 0 {
		off = s.slot(uint32(idx - s.first))
	}
	h, payload, sums, err = s.chunkAt(off, idx, kindFull, kindFirst)
	if err == nil && sums == nil && len(payload) >= adviseWholeMin {
		// A large chunk of format 1 or 2, hashed whole now.
		s.willNeed(off+chunkHeaderSize, off+chunkHeaderSize+int64(len(payload)))
	}
	if err == nil && sums == nil && xxh3.Hash(payload) != h.sum {
		err = corruptf(s.path, off, idx, "payload checksum mismatch")
	}
	return h, off, payload, sums, err
}

// continuation reads and decodes the chunk of entry idx that opens s, and,
// when verify is set, verifies its payload if it has no block sums.
func (s *segment) continuation(idx uint64, verify bool) (h chunkHeader, payload, sums []byte, err error) {
	off := int64(dataStart)
	defer recoverFault(&err, s.path, &off, idx, debug.SetPanicOnFault(true))
	h, payload, sums, err = s.chunkAt(dataStart, idx, kindMiddle, kindLast)
	if err == nil && verify && sums == nil && len(payload) >= adviseWholeMin {
		s.willNeed(dataStart+chunkHeaderSize, dataStart+chunkHeaderSize+int64(len(payload)))
	}
	if err == nil && verify && sums == nil && xxh3.Hash(payload) != h.sum {
		err = corruptf(s.path, dataStart, idx, "payload checksum mismatch")
	}
	return h, payload, sums, err
}

// copyOut copies the payload into dst, len(dst) == v.size, one chunk
// after another, each verified whole before it is copied (verifyRest: one
// sequential pass). It walks a cursor of its own, so a reader of the view
// keeps its position.
func (v *View) copyOut(dst []byte) error {
	c := v.at
	if v.whole {
		c.sums = nil
	}
	for {
		if c.sums != nil {
			c.adviseChunk()
		}
		if err := c.verifyRest(); err != nil {
			return err
		}
		if len(c.pay) > len(dst) {
			return corruptf(c.seg.path, -1, v.idx, "entry longer than its %d bytes", v.size)
		}
		if err := copyGuarded(dst, c.pay, c.seg.path, c.payOff, v.idx); err != nil {
			return err
		}
		dst = dst[len(c.pay):]
		if c.last {
			break
		}
		if err := c.advance(); err != nil {
			return err
		}
	}
	if len(dst) != 0 {
		return corruptf(v.pins[0].path, -1, v.idx, "entry shorter than its %d bytes", v.size)
	}
	return nil
}

// copyGuarded copies mapped bytes, a memory fault turned into an error.
func copyGuarded(dst, src []byte, path string, off int64, idx uint64) (err error) {
	defer recoverFault(&err, path, &off, idx, debug.SetPanicOnFault(true))
	copy(dst, src)
	return nil
}

// recoverFault, deferred by a guarded region with the panic-on-fault
// setting it replaced, restores that setting and turns a memory fault into
// the region's error. Other panics propagate.
func recoverFault(err *error, path string, off *int64, idx uint64, old bool) {
	debug.SetPanicOnFault(old)
	r := recover()
	if r == nil {
		return
	}
	fault := mmapio.FaultOf(r)
	if fault == nil {
		panic(r)
	}
	*err = faultError(path, *off, idx, fault)
}

// faultError reports a memory fault while reading a segment's mapping.
func faultError(path string, off int64, idx uint64, fault error) error {
	return fmt.Errorf("%w (%w)", corruptf(path, off, idx, "memory fault reading mapped bytes (file truncated or unreadable)"), fault)
}
