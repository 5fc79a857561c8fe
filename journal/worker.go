package journal

import (
	"sync"
	"sync/atomic"
)

// The journal runs up to five goroutines of its own: the spare maker
// (spare.go), the prefaulter (prefault.go), the bounder (lru.go), under
// GroupCommit the committer (sync.go), and, from the first cut that
// removes a segment no reader pins, the reaper (reap.go). Each is a small
// type that holds its channels and state, embeds a worker for its stop
// channel and WaitGroup, and has start and stop, in the shape of etcd's
// wal filePipeline.
//
// Life cycle: Open starts them after recovery, so recovery (which may roll
// segments) runs with none: their request channels are nil until start,
// and the writer's sends to them fall through to their default case.
// Close and crashClose stop them, once each, before anything they use is
// released; stop returns only after the goroutine has returned.
//
// The loop each goroutine runs is a method of Journal: the goroutine's stack
// then names (*Journal), which the leak checks of this package and of
// cmd/spool look for (leak_test.go).

// worker is one background goroutine with a stop channel and a WaitGroup.
type worker struct {
	stopc chan struct{} // closed by stop; nil until start
	wg    sync.WaitGroup
}

// start runs loop in a new goroutine, which must return soon after stop
// closes the channel it is given.
func (w *worker) start(loop func(stop <-chan struct{})) {
	w.stopc = make(chan struct{})
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		loop(w.stopc)
	}()
}

// stop closes the stop channel and waits for the goroutine to return. It
// is a no-op for a worker never started, and must be called at most once.
func (w *worker) stop() {
	if w.stopc == nil {
		return
	}
	close(w.stopc)
	w.wg.Wait()
}

// spareMaker prepares the file of the next segment in the background,
// when the writer asks for it (spare.go), and holds the spare until a roll
// takes it.
type spareMaker struct {
	worker
	wake chan struct{} // one pending request; nil until start

	asked bool   // guarded by the writer lock: a spare was asked for since the last roll
	seq   uint64 // names spares; used only by whichever makes them (the goroutine, or the writer inline)

	mu     orderedMutex // guards spare and closed (lock order: journal.go)
	spare  *spareFile   // prepared for the next roll, or nil
	closed bool         // Close ran: a spare made now is discarded

	// Read by tests only; an atomic add is all they cost.
	dropped  atomic.Int64 // spares that could not be made
	recycled atomic.Int64 // cut segments turned into spares
}

// start launches the spare maker's goroutine, which runs loop.
func (m *spareMaker) start(loop func(stop <-chan struct{})) {
	m.wake = make(chan struct{}, 1)
	m.worker.start(loop)
}

// prefaulter faults in the pages ahead of the writer from another
// goroutine (prefault.go).
type prefaulter struct {
	worker
	req chan prefaultRequest // one pending request; nil until start
	// roundBytes is a moving average of the bytes a sync round covers; it
	// sizes the prefill pieces (prefill.go).
	roundBytes atomic.Int64
}

// noteRound folds a round of n bytes into the moving average.
func (p *prefaulter) noteRound(n int64) {
	old := p.roundBytes.Load()
	if old == 0 {
		p.roundBytes.Store(n)
		return
	}
	p.roundBytes.Store(old - old/8 + n/8)
}

// start launches the prefaulter's goroutine, which runs loop.
func (p *prefaulter) start(loop func(stop <-chan struct{})) {
	p.req = make(chan prefaultRequest, 1)
	p.worker.start(loop)
}

// committer is GroupCommit's background syncer: appends wake it, and each
// time it makes everything appended so far durable with one sync round
// (sync.go). Under the other policies it is never started.
type committer struct {
	worker
	wake chan struct{} // one pending wake-up; nil unless started
}

// start launches the committer's goroutine, which runs loop.
func (c *committer) start(loop func(stop <-chan struct{})) {
	c.wake = make(chan struct{}, 1)
	c.worker.start(loop)
}
