package journal

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/spoolhq/spool/mmapio"
)

// Bounded mappings.
//
// A sealed segment is mapped, with its file open, only while it is in use
// or among the Options.MaxOpenSegments sealed segments used most recently;
// the active segment and segments whose seal is not yet durable are always
// mapped. A full replay of a long log, or readers scattered over all of it,
// keep at most that many sealed segments mapped (plus those pinned at the
// moment), so descriptors, mappings and page tables are bounded by
// configuration, not by log length (docs/design.md, invariant 8). A sealed
// segment that leaves the active role has its pages released from the
// process (MADV_DONTNEED) once its seal is durable: they stay in the page
// cache, but the process's resident set no longer carries them, and a
// reader's faults bring back only what it reads. The signal is the unpin
// that leaves a segment no longer last in the set with only the set's
// reference (retire): a roll pins the sealed segment for its deferred seal
// before it publishes the next one, and the sync that makes the seal
// durable drops that pin. The bounder goroutine then madvises, holding a
// pin so that the mapping stays.
//
// Eviction. A segment is evicted (unmapped and closed, its bookkeeping
// kept) by whoever loads a segment over the cap, under the writer lock:
// a reader whose ensure loaded one waits for any other loader's pass
// (bounder.evictMu), then takes the writer lock if it is free (TryLock),
// and otherwise, as when a truncation holding the lock loads a segment,
// leaves the eviction to the bounder goroutine. Holding the writer
// lock excludes appends, rolls, seals and truncations, which use segments
// they have not pinned (truncateBackLocked, cutLocked, recycleLocked), so
// the evictor sees the active segment and the pending seals as they are.
// It evicts, least recently used first, only a segment that is loaded, not
// active, sealed with its trailer in the mapping matching its bookkeeping
// (what a reload accepts), and pinned by the segment set alone.
//
// Readers take no lock. The protocol against a reader pinning while a
// segment is evicted (evict, under the segment's loadMu):
//
//  1. refs: compare-and-swap 1 (the set's reference alone) to 1|refsUnmapped.
//     Fails if any pin is held: the segment is not evicted.
//  2. loaded := false.
//  3. Reload refs: if it is not 1|refsUnmapped, a reader pinned after step 1;
//     it may have seen loaded true before step 2 and be reading: restore
//     loaded and the flag, do not evict.
//  4. Check that the current set still lists the segment (is still the set
//     the candidate was taken from, sets being immutable): a truncation
//     publishes the set without it before dropping the set's reference, so
//     a count of 1 at step 3 is the set's, not a reader's left alone.
//  5. Detach the file and mapping (unmapped after the writer lock is let
//     go) and leave refsUnmapped set.
//
// A reader pins (refs += 1) and then loads loaded. Go's atomics are
// sequentially consistent, so either the reader's pin precedes step 3 (the
// evictor sees it and aborts) or the reader's load of loaded follows step
// 2 and sees false: it takes the slow path of ensure, waits on loadMu for
// the evictor, and reloads. A mapping is therefore never unmapped under a
// reader (docs/design.md, invariant 7).
//
// refsUnmapped stays set while the segment is unmapped, so that nothing
// that expects a mapped, unpinned segment can take one that has none: a
// recycling cut's compare-and-swap of refs from 1 to 0 (spare.go) fails and
// the file is unlinked instead. A reload clears the flag. Pin counts are
// refs without the flag: tryPin refuses a count of 0 (released), and the
// unpin that takes the count to 0 releases the segment, flag or not.
//
// A reload (ensure of an evicted segment) opens the file again, checks its
// header and trailer against the segment's bookkeeping with pread, and maps
// it; it rewrites no field that readers read without the segment's lock.
// A reload that finds the file changed reports ErrCorrupt, sticky like any
// load's damage; a failed open, read or map is returned and tried again by
// the next access.

// DefaultMaxOpenSegments is the number of sealed segments a journal keeps
// mapped when Options.MaxOpenSegments is 0. With the default 64 MiB
// segments it is 1 GiB of address space and 16 descriptors: enough for a
// sequential replay (one segment at a time), a follower catching up and a
// few readers scattered over the log at once, each keeping its segment
// mapped between reads, while a reload (open, two preads, mmap: tens of
// microseconds) is negligible next to reading a 64 MiB segment.
const DefaultMaxOpenSegments = 16

// refsUnmapped is the flag in segment.refs of a segment the LRU unmapped;
// the low bits count the references. No segment has 2^40 pins.
const refsUnmapped = int64(1) << 40

// bounder holds the state of the cap on mapped sealed segments and the
// goroutine that releases sealed segments' pages and evicts when a loader
// could not.
type bounder struct {
	worker
	wake chan struct{} // one pending request; nil until start

	limit int // sealed segments kept mapped; negative: no cap

	// evictMu serialises the eviction passes of loaders (afterLoad), so
	// that a loader whose pass finds the writer lock taken by another
	// loader's pass waits for it instead of leaving its segment mapped
	// over the cap. Lock order: taken with no lock held or under the
	// writer lock (a truncation's ensure); under it the writer lock is
	// only tried (TryLock, which never waits), so the two orders cannot
	// deadlock. The bounder's goroutine does not take it.
	evictMu sync.Mutex

	// epoch is the LRU clock: it advances on each load, and an access
	// stamps its segment with the current value. Segments used since the
	// last load share a stamp, so the order is approximate (as CLOCK's is)
	// and an access costs a load and, at most once per epoch, a store.
	epoch atomic.Uint64

	victims []*segment // scratch of evictLocked, guarded by the writer lock

	evictions atomic.Int64 // segments unmapped by the LRU (tests, benchmarks)
	reloads   atomic.Int64 // evicted segments mapped again
	released  atomic.Int64 // sealed segments whose pages were released
	aborts    atomic.Int64 // evictions abandoned at step 3 or 4 (a reader pinned, a cut)
}

// testHookEvict, set only by tests before Open and cleared after Close,
// runs between steps 1 and 2 of an eviction: the race test yields there,
// widening the window in which a reader pins a segment being evicted.
var testHookEvict func(s *segment)

// start launches the bounder's goroutine, which runs loop.
func (b *bounder) start(loop func(stop <-chan struct{})) {
	b.wake = make(chan struct{}, 1)
	b.worker.start(loop)
}

// poke asks the bounder's goroutine for a pass; it never blocks. Before
// start (recovery) and in a Verify journal it does nothing.
func (b *bounder) poke() {
	if b.wake == nil {
		return
	}
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// boundLoop is the bounder's goroutine: on each wake-up it releases the
// pages of newly retired segments and evicts down to the cap.
func (j *Journal) boundLoop(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-j.bound.wake:
		}
		j.boundPass()
	}
}

// boundPass releases the pages of sealed segments retired since the last
// pass, then evicts down to the cap under the writer lock.
func (j *Journal) boundPass() {
	j.releaseRetired()
	if j.bound.limit < 0 {
		return
	}
	j.mu.Lock()
	detached := j.evictLocked()
	j.mu.Unlock()
	unmapDetached(detached)
}

// releaseRetired drops from the process the pages of every segment that
// has retired (sealed, durable, no longer last in the set) and not had
// them dropped yet. The pin keeps the mapping in place while madvise runs;
// readers may read meanwhile: a shared file mapping refaults from the page
// cache, unchanged.
func (j *Journal) releaseRetired() {
	for _, s := range j.segs.Load().segs {
		if !s.retired.Load() || s.advised.Load() || !s.tryPin() {
			continue
		}
		if s.loaded.Load() && s.advised.CompareAndSwap(false, true) {
			// Best effort: a failed hint costs memory, not data.
			_ = s.mm.Advise(0, int(s.size), mmapio.AdviseDontNeed)
			// Its readers from now on fault in what they read
			// (readahead.go).
			adviseRandom(s, s.mm)
			j.bound.released.Add(1)
		}
		s.unpin()
	}
}

// retire is called by an unpin that leaves one reference: if the segment
// is no longer the last of the set, it has left the active role and its
// seal is durable (a roll pins the segment for its deferred seal before it
// publishes the next segment, and drops that pin only after syncing the
// seal), so the bounder may release its pages. It costs the active
// segment's readers an atomic load and a comparison per unpin.
func (s *segment) retire() {
	j := s.j
	if j == nil || j.bound.wake == nil {
		return
	}
	segs := j.segs.Load().segs
	if len(segs) == 0 || segs[len(segs)-1] == s {
		return
	}
	if s.retired.CompareAndSwap(false, true) {
		s.used.Store(j.bound.epoch.Load())
		j.bound.poke()
	}
}

// touch stamps s as used now (ensure's fast path).
func (s *segment) touch() {
	if s.j == nil {
		return
	}
	if e := s.j.bound.epoch.Load(); s.used.Load() != e {
		s.used.Store(e)
	}
}

// afterLoad runs when ensure has mapped s (the caller holds a pin on s, or
// the writer lock): it advances the LRU clock and evicts down to the cap,
// after any other loader's pass. If the writer lock is taken (an append, a
// truncation, possibly the caller's own) it asks the bounder's goroutine
// instead: so a read-only workload never has more sealed segments mapped
// than the cap plus the loads waiting for their pass (one per reader at
// most), and with writers the excess lasts until the bounder's next pass.
func (s *segment) afterLoad() {
	j := s.j
	b := &j.bound
	s.used.Store(b.epoch.Add(1))
	if b.limit < 0 || b.wake == nil {
		return
	}
	b.evictMu.Lock()
	defer b.evictMu.Unlock()
	if !j.mu.TryLock() {
		b.poke()
		return
	}
	detached := j.evictLocked()
	j.mu.Unlock()
	// Unmapped under evictMu, so that the next loader's pass sees the
	// descriptors closed; outside the writer lock, which must not wait
	// for page tables to be torn down.
	unmapDetached(detached)
}

// detachedFiles is a file and mapping an eviction took from a segment, to
// be closed once the writer lock is let go: unmapping a large resident
// mapping costs more than the writer should wait.
type detachedFiles struct {
	file mmapio.File
	mm   mmapio.Mapping
}

func unmapDetached(d []detachedFiles) {
	for _, f := range d {
		_ = f.mm.Unmap()
		_ = f.file.Close()
	}
}

// evictLocked evicts the least recently used evictable sealed segments
// until at most limit sealed segments are mapped, and returns their files
// and mappings for the caller to close after letting the writer lock go.
// Segments that cannot be evicted (pinned, active, with a pending seal)
// count against the cap without being evicted. The caller holds the
// writer lock.
func (j *Journal) evictLocked() []detachedFiles {
	b := &j.bound
	ss := j.segs.Load()
	mapped := 0
	cands := b.victims[:0]
	for _, s := range ss.segs {
		if s == j.active || !s.loaded.Load() {
			continue
		}
		mapped++
		if s.sealed && s.refs.Load() == 1 {
			cands = append(cands, s)
		}
	}
	var detached []detachedFiles
	if mapped > b.limit {
		slices.SortFunc(cands, func(a, c *segment) int { return cmp.Compare(a.used.Load(), c.used.Load()) })
		for _, s := range cands {
			if mapped <= b.limit {
				break
			}
			if d, ok := s.evict(ss); ok {
				detached = append(detached, d)
				mapped--
			}
		}
	}
	clear(cands)
	b.victims = cands[:0]
	return detached
}

// evict unmaps s if nothing but the set pins it and its mapping holds the
// trailer its bookkeeping describes (so that a reload will accept it), by
// the protocol written at the top of this file. ss is the current set,
// which lists s; step 4 checks that it is still current (sets are
// immutable), reading no field of other segments: a segment being loaded
// for the first time has its fixed fields written then (recover.go,
// mapSegment). The caller holds the writer lock.
func (s *segment) evict(ss *segmentSet) (detachedFiles, bool) {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if !s.loaded.Load() || s.mm == nil || !s.trailerInMapping() {
		return detachedFiles{}, false
	}
	if !s.refs.CompareAndSwap(1, 1|refsUnmapped) {
		return detachedFiles{}, false
	}
	if testHookEvict != nil {
		testHookEvict(s)
	}
	s.loaded.Store(false)
	if s.refs.Load() != 1|refsUnmapped || s.j.segs.Load() != ss {
		s.loaded.Store(true)
		s.refs.Add(-refsUnmapped) // an unpin to 0 meanwhile waits on loadMu and releases
		s.j.bound.aborts.Add(1)
		return detachedFiles{}, false
	}
	d := detachedFiles{file: s.file, mm: s.mm}
	s.file, s.mm, s.data = nil, nil, nil
	s.evicted = true
	s.j.bound.evictions.Add(1)
	return d, true
}

// trailerInMapping reports whether the mapping holds a valid trailer that
// matches the segment's bookkeeping. The caller holds the writer lock
// (appender fields) and loadMu.
func (s *segment) trailerInMapping() bool {
	var t segTrailer
	ok := false
	if mmapio.Guard(func() error {
		t, ok = decodeTrailer(s.data[s.trailerOff():])
		return nil
	}) != nil {
		return false
	}
	return ok && s.trailerMatches(t)
}

// trailerMatches says whether t is the trailer of s as the journal knows
// it: same journal and segment, same first entry, count, data end and
// continuation flag.
func (s *segment) trailerMatches(t segTrailer) bool {
	return t.journalID == s.j.id && t.segID == s.id && t.firstStart == s.first &&
		t.count == s.count.Load() && t.dataEnd == s.dataEnd &&
		(t.flags&trailerFlagOpen != 0) == s.open
}

// reloadLocked maps an evicted segment again: it opens the file, checks
// with pread that its header and trailer still say what the segment's
// bookkeeping does, and maps it. It writes only the file, the mapping and
// the flag, so that readers looking at the segment's fixed fields (first,
// size, salt) without a lock do not race with it. The caller holds loadMu
// and a pin.
func (s *segment) reloadLocked() error {
	j := s.j
	f, err := j.fs.Open(s.path, true)
	if err != nil {
		return fmt.Errorf("journal: reopen %s: %w", s.path, err)
	}
	fail := func(err error) error {
		_ = f.Close()
		return err
	}
	var hb [headerSize]byte
	if n, err := f.ReadAt(hb[:], 0); n < headerSize {
		if isIOError(err) {
			return fail(fmt.Errorf("journal: read header of %s: %w", s.path, err))
		}
		return fail(corruptf(s.path, 0, s.first, "short segment header on reload: %v", err))
	}
	h, err := decodeSegHeader(hb[:])
	if err != nil {
		return fail(&CorruptError{Path: s.path, Offset: 0, Index: s.first, Reason: "on reload: " + err.Error(), Err: sentinelOf(err)})
	}
	if h.journalID != j.id || h.segID != s.id || h.base != s.base || h.size != s.size ||
		(h.flags&segFlagContinues != 0) != s.cont || ckptOffFor(h.version) != s.ckpt {
		return fail(corruptf(s.path, 0, s.first, "segment header changed since it was loaded (journal %016x segment %d base %d size %d)", h.journalID, h.segID, h.base, h.size))
	}
	if size, err := f.Size(); err != nil {
		return fail(fmt.Errorf("journal: stat %s: %w", s.path, err))
	} else if size < s.size {
		return fail(corruptf(s.path, size, s.first, "file is %d bytes, header says %d", size, s.size))
	}
	var tb [trailerSize]byte
	if n, err := f.ReadAt(tb[:], s.trailerOff()); n < trailerSize {
		if isIOError(err) {
			return fail(fmt.Errorf("journal: read trailer of %s: %w", s.path, err))
		}
		return fail(corruptf(s.path, s.trailerOff(), s.first, "short trailer read on reload: %v", err))
	}
	if t, ok := decodeTrailer(tb[:]); !ok || !s.trailerMatches(t) {
		return fail(corruptf(s.path, s.trailerOff(), s.first, "trailer changed since the segment was loaded: a segment is damaged"))
	}
	mm, err := f.Map(0, int(s.size), true)
	if err != nil {
		return fail(fmt.Errorf("journal: map %s: %w", s.path, err))
	}
	adviseRandom(s, mm) // before any reader faults (readahead.go)
	s.file, s.mm, s.data = f, mm, mm.Bytes()
	s.evicted = false
	s.refs.Add(-refsUnmapped)
	j.bound.reloads.Add(1)
	return nil
}
