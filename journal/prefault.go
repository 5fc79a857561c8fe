package journal

import (
	"github.com/spoolhq/spool/mmapio"
)

// Writing a fresh page of a shared file mapping costs a page fault (page
// cache allocation, zeroing, block reservation), far more than copying the
// page. One MADV_POPULATE_WRITE over a large range costs a fraction of that
// per page (figures in docs/decisions.md, "Fresh pages, the prefaulter and
// segment recycling"), so the prefaulter
// keeps the pages just ahead of the writer faulted in, from another
// goroutine, and appends mostly write into mapped memory that is ready.
//
// The prefaulter takes no lock: the writer hands it a pinned segment and a
// target offset through a one-slot channel, and it publishes its progress in
// segment.faultedTo. An earlier version took the writer lock for every step
// and was starved by a busy appender (Go's mutex lets the unlocking goroutine
// re-lock first), so the writer ended up faulting most pages itself.
const (
	prefaultAhead = 8 << 20   // keep this much faulted ahead of the write offset
	prefaultStep  = 512 << 10 // advise in steps of this size
)

// prefaultHead is how much of a new segment is faulted in before its first
// append, and prefaultSlots how much of its slot array (at the segment's
// end). Without a head start the writer begins by faulting pages itself,
// and while both fault pages of the same file the prefaulter runs at a
// fraction of its speed and never gets ahead again.
const (
	prefaultHead  = 2 << 20
	prefaultSlots = 64 << 10
)

// faultInHead faults in the head (the first prefaultHead bytes) and the
// first slots of a segment file of the given size before it takes appends.
// It is slow (milliseconds even with the read-ahead below), so a spare file
// gets it in the background (spare.go); only a roll without a spare pays
// it on the append path.
//
// Each range is read ahead (MADV_WILLNEED) before it is faulted in: the
// first faults of a fresh file otherwise read ahead a little at a time,
// and this order makes both the head and the slots (at the end of the
// file, where read-ahead is cut short) several times cheaper (docs/
// decisions.md, "Spare segment files and cheaper first faults"). Further
// on, once read-ahead has ramped up, faulting in alone is faster, so the
// prefaulter does not do this.
func faultInHead(mm mmapio.Mapping, size int64) {
	end := size - trailerSize
	head := min(int64(prefaultHead), end)
	_ = mm.Advise(0, int(head), mmapio.AdviseWillNeed)
	_ = mm.Advise(0, int(head), mmapio.AdviseWillWrite)
	if slots := end - prefaultSlots; slots > head {
		_ = mm.Advise(int(slots), int(size-slots), mmapio.AdviseWillNeed)
		_ = mm.Advise(int(slots), int(size-slots), mmapio.AdviseWillWrite)
	}
}

// prefaultRequest asks the prefaulter to fault in s up to to. The request
// holds a pin on s, dropped by the prefaulter.
type prefaultRequest struct {
	s    *segment
	from int64
	to   int64
}

// maybePrefaultLocked hands the prefaulter the range ahead of the writer
// when the writer is getting close to the end of the faulted range. Called
// under the writer lock.
func (j *Journal) maybePrefaultLocked(s *segment) {
	j.spareWantedLocked(s)
	reqs := j.prefaulter.req
	if reqs == nil {
		return // recovery: the prefaulter is not started yet
	}
	end := s.trailerOff()
	faulted := s.faultedTo.Load()
	if faulted-s.writeOff > prefaultAhead/2 || faulted >= end || len(reqs) > 0 {
		return
	}
	if !s.tryPin() {
		return
	}
	req := prefaultRequest{s: s, from: max(faulted, s.writeOff), to: min(s.writeOff+prefaultAhead, end)}
	select {
	case reqs <- req:
	default:
		s.unpin()
	}
}

// prefaultLoop is the prefaulter's goroutine: until stopped, it faults in
// the ranges the writer asks for. A request left pending at the stop has its
// pin dropped.
func (j *Journal) prefaultLoop(stop <-chan struct{}) {
	reqs := j.prefaulter.req
	for {
		select {
		case <-stop:
			select {
			case req := <-reqs:
				req.s.unpin()
			default:
			}
			return
		case req := <-reqs:
			prefault(req, stop)
			req.s.unpin()
		}
	}
}

// prefault faults in [req.from, req.to) of req.s in steps, skipping what an
// earlier request already covered, and returns early once stop is closed.
func prefault(req prefaultRequest, stop <-chan struct{}) {
	s := req.s
	from := max(s.faultedTo.Load(), req.from) &^ int64(mmapio.PageSize()-1)
	for from < req.to {
		select {
		case <-stop:
			return
		default:
		}
		to := min(from+prefaultStep, req.to)
		// Errors are ignored: the hint is an optimisation, and a page it
		// failed to fault is faulted by the write itself.
		_ = s.mm.Advise(int(from), int(to-from), mmapio.AdviseWillWrite)
		s.faultedTo.Store(to)
		from = to
	}
}
