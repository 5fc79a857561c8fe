package journal

import (
	"sync/atomic"

	"github.com/spoolhq/spool/mmapio"
)

// Zero prefill: the page cache shape of the write region.
//
// A store into a fresh page of a shared file mapping makes the kernel
// allocate the page cache folio in the fault path, where read-around
// allocates large folios (up to 2 MiB on Linux 6.x), and zero it. A sync
// writes a dirty folio back whole, and a round that ends inside one writes
// it again in the next round: durable appends of 1 MiB per round wrote 2.1
// bytes to the disk per byte appended (docs/decisions.md, "Durable writes
// through the mapping"). So the region ahead of the writer is first written
// with zeros by write(2), in pieces aligned to their size, which the page
// cache takes as the folio size: a sixteenth of the bytes a sync round
// covers, from 4 KiB to 256 KiB (prefillChunk). Writing zeros is one copy
// into the page cache, cheaper than the zeroing fault it replaces; the
// fault that maps the page afterwards finds it there. The write region is
// advised random-access as well (faultInHead): a fault's read-around would
// otherwise allocate large folios beyond the prefill, which the prefill's
// zeros then land in.
//
// The zeros must never land on a byte the writer wrote. The frontier
// divides the segment: below it the writer owns the bytes, at and above it
// the prefiller may write zeros, up to zeroCap. The prefiller moves the
// frontier up only after its zeros are written; the writer claims each
// window before writing into it (claimWindow), with one atomic load when
// the window lies below the frontier, and under fill.mu, writing the zeros
// itself, when it has overtaken the prefiller. Both move the frontier only
// under fill.mu. Slots and the trailer lie above zeroCap and are never
// zeroed.

// Prefill piece sizes: the page-cache folio sizes the prefill aims for,
// and the most it writes under the lock at a time.
const (
	minPrefillChunk = 4 << 10
	maxPrefillChunk = 256 << 10
	prefillStep     = 256 << 10
)

// zeroCap returns the offset below which zeros may be written ahead of the
// writer in a segment of the given size: no slot ever lies below it. Each
// entry starting in a segment has a chunk header of chunkHeaderSize bytes
// at or above dataStart and a slot of slotSize bytes below the trailer, and
// the two areas never overlap, so n entries' slots reach down at most
// slotSize/(chunkHeaderSize+slotSize) of the space in between.
func zeroCap(size int64) int64 {
	span := size - trailerSize - dataStart
	limit := dataStart + span*chunkHeaderSize/(chunkHeaderSize+slotSize)
	return limit &^ int64(mmapio.PageSize()-1)
}

// zeroFill writes zeros over [from, to) in pieces of chunk bytes, aligned
// to chunk, so that the page cache holds the range in folios of that
// size. It returns how far it got: a failed write is not an error (the
// prefill is an optimisation; the writer's stores fault in what it left).
func zeroFill(f mmapio.File, from, to, chunk int64) int64 {
	for from < to {
		end := min(to, (from+chunk)&^(chunk-1))
		if _, err := f.WriteAt(zeros[:end-from], from); err != nil {
			if testHookPrefillFailed != nil {
				testHookPrefillFailed(err)
			}
			return from
		}
		prefillZeroBytes.Add(end - from)
		from = end
	}
	return from
}

// zeros is the source of every prefill write; nothing writes to it.
var zeros [maxPrefillChunk]byte

// prefillZeroBytes counts the zeros every journal of the process has
// prefilled: tests tell them from the bytes appends dirty.
var prefillZeroBytes atomic.Int64

// testHookPrefillFailed, set only by tests before Open and cleared after
// Close, is called when a prefill write fails (and is ignored).
var testHookPrefillFailed func(err error)

// prefill is a segment's zero-prefill state.
type prefill struct {
	mu       orderedMutex // serialises moves of frontier
	frontier atomic.Int64 // see the comment at the top of this file
	// armed is set, with the frontier, when a fresh file becomes a
	// segment (newSegmentLocked). A segment recovery reopens for appends
	// is never armed: its frontier would not be known, and nothing below
	// its data end may ever be zeroed.
	armed atomic.Bool
	// zapped: the writer's pages below it were dropped from the process's
	// page tables (unmapWritten). Written by the prefaulter only.
	zapped atomic.Int64
}

// claim makes [.., end) the writer's before it writes there. A writer that
// has overtaken the prefiller writes the zeros of its window itself (they
// cost a fraction of the page faults they save), up to limit.
func (p *prefill) claim(f mmapio.File, end, limit, chunk int64) {
	if end <= p.frontier.Load() || !p.armed.Load() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	from := p.frontier.Load()
	if end <= from {
		return
	}
	page := int64(mmapio.PageSize())
	from = (from + page - 1) &^ (page - 1)
	to := min(limit, (end+chunk-1)&^(chunk-1))
	if from < to {
		to = zeroFill(f, from, to, chunk)
	}
	p.frontier.Store(max(end, to))
}

// fill writes zeros from the frontier up to to and moves the frontier past
// them, prefillStep at a time, until done or stopped.
func (p *prefill) fill(f mmapio.File, to, chunk int64, stop <-chan struct{}) {
	if !p.armed.Load() {
		return
	}
	page := int64(mmapio.PageSize())
	for {
		select {
		case <-stop:
			return
		default:
		}
		p.mu.Lock()
		from := (p.frontier.Load() + page - 1) &^ (page - 1)
		if from >= to {
			p.mu.Unlock()
			return
		}
		end := min(to, (from+prefillStep)&^(prefillStep-1))
		done := zeroFill(f, from, end, chunk)
		p.frontier.Store(done)
		p.mu.Unlock()
		if done < end {
			return
		}
	}
}

// arm starts the prefill of a fresh segment whose data area below from
// has been prefilled (faultInHead).
func (p *prefill) arm(from int64) {
	p.mu.Lock()
	p.frontier.Store(from)
	p.armed.Store(true)
	p.mu.Unlock()
}

// claimWindow claims a window of segment s, ending at end, for the writer
// before it is handed out. Called under the writer lock.
func (j *Journal) claimWindow(s *segment, end int64) {
	if end <= s.fill.frontier.Load() {
		return // the common case: the prefill is ahead (one atomic load)
	}
	s.fill.claim(s.file, end, zeroCap(s.size), j.prefillChunk())
}

// prefillChunk returns the prefill piece size for the current sync rounds:
// a sixteenth of a round, so that a round rewrites at most a sixteenth
// more than it wrote (the folio it ends in is written whole, and again by
// the next round). Before the first round it is the smallest, whatever
// the policy: the adapters run PageCache and sync every call (WaitDurable),
// so a policy says nothing about round sizes, and a piece too small costs
// only write calls in the background while one too large doubles what
// small rounds write.
func (j *Journal) prefillChunk() int64 {
	r := j.prefaulter.roundBytes.Load()
	if r == 0 {
		return minPrefillChunk
	}
	c := int64(minPrefillChunk)
	for c < maxPrefillChunk && c*2 <= r/16 {
		c *= 2
	}
	return c
}

// unmapWritten drops the process's page-table entries for the whole pages
// of [from, to) but the header's, before a sync writes them back or once
// the writer has moved past them. Writeback write-protects each mapped
// page it cleans, one TLB flush (an interrupt to every other CPU running
// the process) per page; this is one flush for the range. The pages stay
// in the page cache, dirty until synced; a reader faults them back in. It
// also bounds the process's resident pages of the active segment to the
// region around the writer.
func (s *segment) unmapWritten(from, to int64) {
	page := int64(mmapio.PageSize())
	lo := max(from, dataStart) &^ (page - 1)
	hi := to &^ (page - 1)
	if hi > lo {
		_ = s.mm.Advise(int(lo), int(hi-lo), mmapio.AdviseDontNeed)
	}
}
