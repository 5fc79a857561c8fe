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
	zapBehindStep = 4 << 20   // drop written pages from the page tables this much at a time
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

// faultInHead prepares a segment file of the given size for its first
// appends: the file is advised random-access (no fault reads around, so none builds the large folios a sync would write
// back whole: prefill.go), its head (the first prefaultHead bytes) is
// prefilled with zeros in pieces of chunk bytes and faulted in, and so are
// the first slots (at the segment's end). It is slow (about a
// millisecond), so a spare file gets it in the background (spare.go); only
// a roll without a spare pays it on the append path.
//
// The slots are read ahead (MADV_WILLNEED) before they are faulted in: at
// the end of the file read-ahead is cut short, and this order makes them
// several times cheaper (docs/decisions.md, "Spare segment files and
// cheaper first faults").
func faultInHead(f mmapio.File, mm mmapio.Mapping, size, chunk int64) {
	end := size - trailerSize
	limit := zeroCap(size)
	head := min(int64(prefaultHead), limit)
	// The whole mapping, header page included: advice on part of it
	// would split it in two VMAs, and msync fsyncs once per VMA, so a
	// round that writes the checkpoint would flush the disk twice.
	_ = mm.Advise(0, int(size), mmapio.AdviseRandom)
	zeroFill(f, dataStart, head, chunk)
	_ = mm.Advise(0, int(head), mmapio.AdviseWillWrite)
	if slots := end - prefaultSlots; slots > head {
		_ = mm.Advise(int(slots), int(size-slots), mmapio.AdviseWillNeed)
		_ = mm.Advise(int(slots), int(size-slots), mmapio.AdviseWillWrite)
	}
}

// prefaultRequest asks the prefaulter to fault in s up to to. The request
// holds a pin on s, dropped by the prefaulter.
type prefaultRequest struct {
	s      *segment
	from   int64
	to     int64
	writer int64 // the write offset when the request was made
	chunk  int64 // prefill piece size
	fill   bool  // prefill with zeros (not on the crashable FS: see prefillInBackground)
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
	req := prefaultRequest{
		s: s, from: max(faulted, s.writeOff), to: min(s.writeOff+prefaultAhead, end), writer: s.writeOff,
		chunk: j.prefillChunk(), fill: j.prefillInBackground(),
	}
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
	page := int64(mmapio.PageSize())
	// Behind the writer, drop written pages from the page tables, so that
	// the process keeps only the pages around the writer resident whatever
	// the sync policy (sync rounds do the same for what they sync).
	if zapped, w := s.fill.zapped.Load(), req.writer&^(page-1); w-zapped >= zapBehindStep {
		s.unmapWritten(zapped, w)
		s.fill.zapped.Store(w)
	}
	from := max(s.faultedTo.Load(), req.from) &^ (page - 1)
	for from < req.to {
		select {
		case <-stop:
			return
		default:
		}
		to := min(from+prefaultStep, req.to)
		if req.fill {
			s.fill.fill(s.file, min(to, zeroCap(s.size)), req.chunk, stop)
		}
		// Errors are ignored: the hint is an optimisation, and a page it
		// failed to fault is faulted by the write itself.
		_ = s.mm.Advise(int(from), int(to-from), mmapio.AdviseWillWrite)
		s.faultedTo.Store(to)
		from = to
	}
}

// prefillInBackground says whether the prefaulter writes the zero prefill.
// On the crashable FS (tests that prepare spares inline to see one
// deterministic sequence of file operations) it does not: the writer's
// claims write the zeros there, on the append path, in a deterministic
// order.
func (j *Journal) prefillInBackground() bool { return j.opts.spare != spareInline }
