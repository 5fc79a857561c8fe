package journal

import (
	"encoding/binary"
	"errors"
	"sync/atomic"

	"github.com/spoolhq/spool/mmapio"
)

// segment is one segment file, mapped whole.
//
// Lifetime: refs starts at 1, the reference held by the segment set that
// lists the segment. Readers pin (tryPin) before touching data and unpin
// after. When a truncation drops the segment from the set it calls unpin
// for the set's reference; whoever takes refs to zero unmaps and closes the
// file. Pinning fails once refs has reached zero, and the reader retries
// against the current set. So a mapping is never unmapped under a reader
// (docs/design.md, invariant 7).
//
// Between those, a sealed segment that only the set pins may be evicted
// (unmapped and closed, its bookkeeping kept) to bound the mapped
// segments, and is reloaded by the next ensure; refs then carries the
// refsUnmapped flag. The protocol that keeps eviction from unmapping under
// a reader who pins concurrently is written in lru.go.
type segment struct {
	j     *Journal
	id    uint64
	path  string
	salt  uint64
	size  int64
	base  uint64 // header base index
	cont  bool   // opens with a continuation of entry base
	first uint64 // index of the first entry that starts here
	ckpt  int64  // offset of the checkpoint, by the header's format version

	file mmapio.File
	mm   mmapio.Mapping
	data []byte // mm.Bytes()

	refs atomic.Int64

	// Sealed segments found by Open are loaded (validated and mapped) on
	// first access, so Open costs O(1) reads however long the log.
	loaded  atomic.Bool
	loadMu  orderedMutex // serialises loading
	loadErr error        // sticky load failure, guarded by loadMu
	evicted bool         // unmapped by the LRU; the next ensure reloads (guarded by loadMu)

	// The LRU of mapped sealed segments (lru.go). used is the LRU clock's
	// value at the last access; retired says the segment has left the
	// active role with its seal durable, advised that its pages have been
	// released from the process since.
	used    atomic.Uint64
	retired atomic.Bool
	advised atomic.Bool

	// count is the number of published entries starting in this segment.
	// Written by the appender (under Journal.mu) after an entry's slot is
	// in place; readers load it. Sealed segments never change it except
	// by truncation, which publishes a new segment set.
	count atomic.Uint32

	// faultedTo: pages below this offset have been prefaulted. Written by
	// the prefaulter, read by the appender (prefault.go).
	faultedTo atomic.Int64
	// randomRead: the mapping is advised random-access (a sealed
	// segment); replaying counts the Iterators reading it in order, which
	// give it the default advice meanwhile (readahead.go).
	randomRead atomic.Bool
	replaying  atomic.Int32
	// fill is the zero-prefill frontier (prefault.go).
	fill prefill

	// Appender state, guarded by Journal.mu.
	sealed   bool
	writeOff int64 // next chunk offset (active segment)
	highOff  int64 // highest offset written since the last sync: syncs cover up to here
	synced   int64 // data below this offset is durable
	open     bool  // sealed with its last counted entry continuing (trailer flag)
	dataEnd  int64 // sealed: end of data
	removed  bool  // file unlinked
	scanned  bool  // recovery scanned it (no valid trailer)
	// deferred is the trailer of a deferred seal, not yet in the mapping:
	// it is written only once the data it describes is durable (see
	// syncSeals). Guarded by sealMu, which serialises every trailer write.
	sealMu   orderedMutex
	deferred *segTrailer
	// Durable prefix known after the last sync round, to be recorded in
	// the segment's checkpoint by the next round.
	ckptNext    checkpoint
	ckptWritten int64 // end recorded by the checkpoint on disk (or being synced)
}

func (s *segment) trailerOff() int64 { return s.size - trailerSize }

// slotOff returns the file offset of slot i.
func (s *segment) slotOff(i uint32) int64 { return s.trailerOff() - slotSize*int64(i+1) }

// dataLimit is the highest data end a segment with count entries can have:
// the last chunk may end right at its slot, and the write offset after it
// is rounded up to the chunk alignment (padding never written).
func (s *segment) dataLimit(count uint32) int64 {
	return alignUp(s.trailerOff() - slotSize*int64(count))
}

func (s *segment) slot(i uint32) int64 {
	return int64(binary.LittleEndian.Uint32(s.data[s.slotOff(i):]))
}

func (s *segment) setSlot(i uint32, off int64) {
	binary.LittleEndian.PutUint32(s.data[s.slotOff(i):], uint32(off))
}

// tryPin takes a reference unless the segment is already released. A pin
// keeps a loaded segment mapped (an evictor aborts when it sees one, see
// lru.go) but does not load it: the pinner calls ensure before touching
// data.
func (s *segment) tryPin() bool {
	for {
		n := s.refs.Load()
		if n&^refsUnmapped <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// unpin drops a reference; the last one unmaps and closes. One that leaves
// only the set's reference may retire the segment (lru.go).
func (s *segment) unpin() {
	switch n := s.refs.Add(-1); n &^ refsUnmapped {
	case 0:
		s.release()
	case 1:
		if !s.retired.Load() {
			s.retire()
		}
	}
}

func (s *segment) release() {
	s.loadMu.Lock()
	s.closeFiles()
	s.loadMu.Unlock()
	if s.j != nil {
		s.j.liveSegments.Add(-1)
	}
}

// segmentSet is an immutable, ordered list of the journal's segments. The
// journal publishes a new set on roll and truncation; readers load the
// current one without locks.
type segmentSet struct {
	segs []*segment
}

// indexOf returns the position of s in the set, or -1.
func (ss *segmentSet) indexOf(s *segment) int {
	for i, t := range ss.segs {
		if t == s {
			return i
		}
	}
	return -1
}

// find returns the segment in which entry idx starts: the last segment
// whose first start index is <= idx. Segments holding only the middle of a
// longer entry share their successor's first index and are skipped by
// taking the last match.
func (ss *segmentSet) find(idx uint64) *segment {
	lo, hi := 0, len(ss.segs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ss.segs[m].first <= idx {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return nil
	}
	return ss.segs[lo-1]
}

// next returns the segment after s in the set, or nil.
func (ss *segmentSet) next(s *segment) *segment {
	for i, t := range ss.segs {
		if t == s && i+1 < len(ss.segs) {
			return ss.segs[i+1]
		}
	}
	return nil
}

// ensure loads a segment that Open left unloaded, or that the LRU evicted:
// it reads and checks the header and trailer against what the directory
// listing implied (or, on a reload, against what the first load found),
// and maps the file. Safe for concurrent use; the caller holds a pin (or
// the writer lock, which excludes eviction). A load that takes the number
// of mapped sealed segments over Options.MaxOpenSegments evicts the least
// recently used ones (lru.go).
//
// The fast path is two atomic loads and, once per LRU epoch, a store: the
// pin the caller took keeps the mapping, so no lock is needed.
func (s *segment) ensure() error {
	if s.loaded.Load() {
		s.touch()
		return nil
	}
	if err := s.load(); err != nil {
		return err
	}
	if s.j != nil {
		s.afterLoad()
	}
	return nil
}

// load is ensure's slow path, under loadMu.
func (s *segment) load() error {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.loaded.Load() {
		return nil
	}
	if s.loadErr != nil {
		return s.loadErr
	}
	if s.evicted {
		if err := s.reloadLocked(); err != nil {
			if errors.Is(err, ErrCorrupt) || isVersionOrForeign(err) {
				s.loadErr = err
			}
			return err
		}
		s.loaded.Store(true)
		return nil
	}
	want := s.count.Load()
	err := s.j.loadSegment(s, false, metaState{})
	if err == nil && (!s.sealed || s.count.Load() != want) {
		err = corruptf(s.path, s.trailerOff(), s.first, "segment is not sealed with %d entries as its successor implies (sealed %v, count %d): a segment is missing or damaged", want, s.sealed, s.count.Load())
	}
	if err != nil {
		s.count.Store(want)
		s.closeFiles()
		if errors.Is(err, ErrCorrupt) || isVersionOrForeign(err) {
			s.loadErr = err // damage stays damage; a failed read may succeed next time
		}
		return err
	}
	// Found sealed on disk: nothing of it is resident in this process but
	// what its readers fault in.
	s.retired.Store(true)
	s.advised.Store(true)
	s.loaded.Store(true)
	return nil
}

// closeFiles unmaps and closes whatever a load opened.
func (s *segment) closeFiles() {
	if s.mm != nil {
		_ = s.mm.Unmap()
		s.mm, s.data = nil, nil
	}
	if s.file != nil {
		_ = s.file.Close()
		s.file = nil
	}
}
