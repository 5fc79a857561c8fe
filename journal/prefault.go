package journal

import (
	"github.com/spoolhq/spool/mmapio"
)

// Writing a fresh page of a shared file mapping costs a page fault (page
// cache allocation, zeroing, block reservation): 2-4 µs per 4 KiB page on a
// virtual machine, far more than copying the page. One MADV_POPULATE_WRITE
// over a large range costs a fraction of that per page, so the prefaulter
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
// third of its speed (1.5 GB/s instead of 5 on the CI VM, measured) and
// never gets ahead again.
const (
	prefaultHead  = 2 << 20
	prefaultSlots = 64 << 10
)

// prefaultHeadStart faults in the head and the first slots of a new
// segment, synchronously (about 0.4 ms for 2 MiB), before it takes appends.
func prefaultHeadStart(s *segment) {
	end := s.trailerOff()
	head := min(int64(prefaultHead), end)
	_ = s.mm.Advise(0, int(head), mmapio.AdviseWillWrite)
	s.faultedTo.Store(head)
	if slots := end - prefaultSlots; slots > head {
		_ = s.mm.Advise(int(slots), int(s.size-slots), mmapio.AdviseWillWrite)
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
	if j.prefaultReq == nil {
		return
	}
	end := s.trailerOff()
	faulted := s.faultedTo.Load()
	if faulted-s.writeOff > prefaultAhead/2 || faulted >= end || len(j.prefaultReq) > 0 {
		return
	}
	if !s.tryPin() {
		return
	}
	req := prefaultRequest{s: s, from: max(faulted, s.writeOff), to: min(s.writeOff+prefaultAhead, end)}
	select {
	case j.prefaultReq <- req:
	default:
		s.unpin()
	}
}

// prefaulter runs until Close, faulting in the ranges the writer asks for.
func (j *Journal) prefaulter() {
	defer j.flushWG.Done()
	for {
		select {
		case <-j.prefaultStop:
			select {
			case req := <-j.prefaultReq:
				req.s.unpin()
			default:
			}
			return
		case req := <-j.prefaultReq:
			j.prefault(req)
			req.s.unpin()
		}
	}
}

// prefault faults in [req.from, req.to) of req.s in steps, skipping what an
// earlier request already covered, and stops early at Close.
func (j *Journal) prefault(req prefaultRequest) {
	s := req.s
	from := max(s.faultedTo.Load(), req.from) &^ int64(mmapio.PageSize()-1)
	for from < req.to {
		select {
		case <-j.prefaultStop:
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
