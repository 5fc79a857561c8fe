package journal

import (
	"github.com/spoolhq/spool/mmapio"
)

// Writing a fresh page of a shared file mapping costs a page fault (page
// cache allocation, zeroing, block reservation): several microseconds on a
// virtual machine, far more than copying the page. The prefaulter keeps the
// pages just ahead of the writer faulted in, from another goroutine, so that
// appends mostly write into mapped memory that is ready.
const (
	prefaultAhead = 4 << 20   // keep this much faulted ahead of the write offset
	prefaultStep  = 512 << 10 // advise in steps of this size
)

// maybePrefaultLocked wakes the prefaulter when the writer is getting close
// to the end of the faulted range. Called under the writer lock.
func (j *Journal) maybePrefaultLocked(s *segment) {
	if j.prefaultWake == nil || s.faultedTo-s.writeOff > prefaultAhead/2 || s.faultedTo >= s.trailerOff() {
		return
	}
	select {
	case j.prefaultWake <- struct{}{}:
	default:
	}
}

// prefaulter runs until Close, faulting in the active segment ahead of the
// writer.
func (j *Journal) prefaulter() {
	defer j.flushWG.Done()
	for {
		select {
		case <-j.prefaultStop:
			return
		case <-j.prefaultWake:
		}
		for {
			j.mu.Lock()
			s := j.active
			if s == nil || !s.tryPin() {
				j.mu.Unlock()
				break
			}
			from := max(s.faultedTo, s.writeOff)
			to := min(s.writeOff+prefaultAhead, s.trailerOff(), from+prefaultStep)
			if to <= from {
				j.mu.Unlock()
				s.unpin()
				break
			}
			s.faultedTo = to
			j.mu.Unlock()
			// Errors are ignored: the hint is an optimisation, and a
			// page it failed to fault is faulted by the write itself.
			_ = s.mm.Advise(int(from), int(to-from), mmapio.AdviseWillWrite)
			s.unpin()
		}
	}
}
