package journal

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/spoolhq/spool/mmapio"
)

// Cuts keep the teardown of the files they remove off the caller's path,
// and give back the blocks of a partly cut segment's dead prefix at once
// (docs/decisions.md, "Cuts: teardown off the caller's path, holes,
// syncs").
//
// Teardown. Unlinking a segment file frees nothing: the kernel frees its
// blocks (and drops its cached pages) when the last descriptor and mapping
// go, so the munmap and close of a removed 64 MiB segment cost the caller
// milliseconds each. A cut hands every removed segment that no reader pins
// to the reaper, a goroutine that unmaps and closes it; a segment a reader
// still pins is torn down by that reader's last unpin, as before. Close
// stops the reaper after it has torn down everything handed to it, so no
// descriptor or mapping outlives Close. While the journal is not running
// its background goroutines (recovery, and after Close has stopped them)
// teardown is inline.
//
// Holes. The segment in which the new first entry starts keeps its dead
// prefix on disk until a later cut unlinks the whole file. TruncateFront
// punches that prefix out (mmapio.HolePuncher), from the end of the first
// page to the page below the first kept chunk, when all of these hold:
//
//   - the segment is sealed with a trailer that is on disk and is not the
//     active segment: recovery never scans it (it loads it by its trailer
//     and reads entries through their slots), so zeros below the first
//     index are never taken for damage; an unsealed segment is scanned
//     from its first chunk after a crash, and a hole there would end the
//     log at its first byte;
//   - nothing but the segment set pins it (reference count 1): no reader is
//     inside it and no seal is pending (a pending seal holds a pin until
//     its trailer is durable); the cut's meta record is durable by then.
//
// Otherwise the prefix is left for a later cut. A punch that fails is
// counted and otherwise ignored: the blocks stay allocated and the bytes
// stay what they were or become zeros, all below the first index, which
// nothing reads. A file system that cannot punch (mmapio.ErrNoPunch) is
// not asked again by this instance.
//
// The reader contract: a reader that pinned the segment before the cut
// keeps it unpunched until it lets go (the reference count above). A
// reader can still load the old first index, lose the CPU, and pin after
// the punch: it then finds zeros where the entry's chunk header was, which
// fails its check, and gets ErrCorrupt, never wrong bytes; unless it
// re-checks the first index after pinning (read.go: pinEntry), which turns
// that into ErrOutOfRange. Between the reference-count check and the
// punch's page-cache drop is the one window where a reader that pins
// after the check could verify a payload and then see it zeroed; the
// re-check after the pin closes it, because such a reader must have seen
// the old first index after the cut had published the new one.

// punchAlign is the alignment of punched ranges: the journal's page (and
// ext4's and xfs's usual block) size, so that no partial block of a kept
// chunk is zeroed in place.
const punchAlign = 4096

// refsCountMask selects the reference count in segment.refs, whose high
// bits may carry flags (the mapped-segment LRU's, lru.go).
const refsCountMask = int64(1)<<40 - 1

// reaper tears down removed segments in the background.
type reaper struct {
	worker
	mu     sync.Mutex // a leaf: guards the fields below, nothing is taken under it
	queue  []*segment
	wake   chan struct{} // one pending wake-up; nil until the goroutine starts
	closed bool          // stop ran: teardown is inline from now on
	busy   int           // segments queued or being torn down
	idle   sync.Cond     // broadcast when busy drops to zero; L is &mu

	// Guarded by the writer lock.
	noPunch bool // the file system said it cannot punch
	// cutSeals holds the deferred trailer each cut left pending on the
	// segment it cut (truncate.go): while it is still the segment's
	// pending seal, the data and slots it describes are durable, so a
	// further cut into the segment need not sync it.
	cutSeals map[*segment]*segTrailer

	// Read by tests and benchmarks only.
	reaped       atomic.Int64 // segments torn down by the goroutine
	punched      atomic.Int64 // bytes of cut prefixes punched out
	punchSkipped atomic.Int64 // punches left for later: the segment was pinned
	punchFailed  atomic.Int64 // punches that failed (not ErrNoPunch)
}

// stop marks the reaper closed and waits for its goroutine, which tears
// down everything queued before it returns. Called once, by Close or
// crashClose, through stopBackground, after the other workers.
func (r *reaper) stop() {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.worker.stop()
}

// waitIdle returns once every segment handed to the reaper so far is torn
// down (tests and benchmarks).
func (r *reaper) waitIdle() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.busy > 0 {
		r.idle.Wait()
	}
}

// reapLoop is the reaper's goroutine.
func (j *Journal) reapLoop(stop <-chan struct{}) {
	r := &j.reaper
	for {
		select {
		case <-r.wake:
			r.drain()
		case <-stop:
			r.drain()
			return
		}
	}
}

// drain tears down the queued segments until the queue is empty.
func (r *reaper) drain() {
	for {
		r.mu.Lock()
		q := r.queue
		r.queue = nil
		r.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, s := range q {
			s.teardown()
			r.reaped.Add(1)
		}
		r.mu.Lock()
		r.busy -= len(q)
		if r.busy == 0 {
			r.idle.Broadcast()
		}
		r.mu.Unlock()
	}
}

// teardown unmaps and closes the files of a segment whose last reference
// is gone. The segment no longer counts in liveSegments: the caller took
// it out when it dropped the last reference.
func (s *segment) teardown() {
	s.loadMu.Lock()
	s.closeFiles()
	s.loadMu.Unlock()
}

// releaseRemoved drops the segment set's reference to s, which a cut has
// just removed from the set. When no reader pins s, its teardown goes to
// the reaper; otherwise the last reader's unpin tears it down. Called under
// the writer lock.
func (j *Journal) releaseRemoved(s *segment) {
	delete(j.reaper.cutSeals, s)
	if s.refs.Add(-1)&refsCountMask != 0 {
		return
	}
	j.liveSegments.Add(-1) // the journal holds it no more; the reaper does
	r := &j.reaper
	r.mu.Lock()
	// The spare maker's wake channel is set when Open starts the
	// background goroutines, after recovery: until then, and once Close
	// has stopped them, teardown is inline.
	if r.closed || j.spareMaker.wake == nil {
		r.mu.Unlock()
		s.teardown()
		return
	}
	if r.wake == nil {
		r.wake = make(chan struct{}, 1)
		r.idle.L = &r.mu
		r.start(j.reapLoop)
	}
	r.queue = append(r.queue, s)
	r.busy++
	wake := r.wake
	r.mu.Unlock()
	select {
	case wake <- struct{}{}:
	default:
	}
}

// punchCutLocked punches out the dead prefix of the segment in which entry
// first, the new first index, starts (see the comment at the top of this
// file for when it does). Called under the writer lock after the cut is
// durable and published.
func (j *Journal) punchCutLocked(first uint64) {
	r := &j.reaper
	if r.noPunch || j.failed.Load() != nil || first > j.last.Load() {
		return
	}
	s := j.segs.Load().find(first)
	if s == nil || s == j.active || !s.sealed || !s.loaded.Load() || s.mm == nil {
		return
	}
	i := first - s.first
	if i == 0 && !s.cont || i >= uint64(s.count.Load()) {
		return // nothing below the first entry, or not counted here
	}
	if s.refs.Load()&refsCountMask != 1 {
		r.punchSkipped.Add(1)
		return
	}
	hp, ok := s.file.(mmapio.HolePuncher)
	if !ok {
		return
	}
	var off int64
	if fault := mmapio.Guard(func() error {
		off = s.slot(uint32(i))
		return nil
	}); fault != nil {
		return
	}
	end := off &^ (punchAlign - 1)
	if off > s.trailerOff() || end <= dataStart {
		return
	}
	if err := hp.PunchHole(dataStart, end-dataStart); err != nil {
		if errors.Is(err, mmapio.ErrNoPunch) {
			r.noPunch = true
		} else {
			r.punchFailed.Add(1)
		}
		return
	}
	r.punched.Add(end - dataStart)
}
