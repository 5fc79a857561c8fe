package journal

import (
	"context"
	"fmt"
)

// waitDurable returns once entry idx is durable. If no sync round is running
// the caller runs one; otherwise it waits for the running round and, if that
// round started before idx was written, for the next. Waiting is a broadcast
// (a channel closed at the end of each round), not a queue per waiter.
func (j *Journal) waitDurable(ctx context.Context, idx uint64) error {
	for {
		if j.durable.Load() >= idx {
			return nil
		}
		if err := j.Err(); err != nil {
			return err
		}
		if j.closed.Load() {
			return ErrClosed
		}
		if idx > j.last.Load() {
			return fmt.Errorf("%w: wait for %d beyond last index %d", ErrOutOfRange, idx, j.last.Load())
		}
		j.syncMu.Lock()
		if !j.syncRunning {
			j.syncRunning = true
			done := j.syncDone
			j.syncMu.Unlock()
			err := j.syncRound()
			j.syncMu.Lock()
			j.syncRunning = false
			j.syncDone = make(chan struct{})
			j.syncMu.Unlock()
			close(done)
			if err != nil {
				return err
			}
			continue
		}
		done := j.syncDone
		j.syncMu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// syncRound makes everything appended before it started durable: the
// pending seals of earlier segments, then one msync of the active segment's
// unsynced range.
//
// A round starts at once: it does not wait for appenders that are about to
// publish. An earlier design yielded the processor until appends went
// quiet, and with CPU-bound goroutines in the process each yield cost a
// scheduler time slice (docs/decisions.md, "Sync rounds start at once").
// Batching comes from the pipeline instead: appenders that publish while a
// round runs wait for it to end, and the first of them runs the next round
// for all of them (leader/follower group commit, as etcd's wal and pebble's
// LogWriter do); what that costs closed-loop appenders is in the same
// section.
func (j *Journal) syncRound() error {
	j.mu.Lock()
	seals := j.pendingSeals
	j.pendingSeals = nil
	s := j.active
	last := j.last.Load()
	cuts := j.cuts
	// Seals reach the disk in segment order: a truncation or Close that
	// runs while this round writes these seals outside the writer lock
	// flushes later segments' seals, and must wait for these first
	// (sealOrder; lock order: mu, then sealOrder).
	j.sealOrder.Lock()
	var from, to, dataFrom int64
	var ckpt checkpoint
	if s != nil && s.tryPin() {
		from, to = s.synced, s.highOff
		dataFrom = from
		// No append is in progress (we hold the writer lock), so the
		// write offset ends the last published entry.
		ckpt = checkpoint{end: s.writeOff, count: s.count.Load(), last: last}
		if s.ckptNext.end > s.ckptWritten {
			// Record the previous round's durable prefix; this
			// round's msync carries it.
			s.ckptNext.encode(s.data[s.ckpt:], s.salt)
			s.ckptWritten = s.ckptNext.end
			from = 0
		}
	} else {
		s = nil
	}
	j.mu.Unlock()
	// Sealed segments first: a segment is durable only after every
	// earlier one is.
	err := j.syncSeals(seals)
	j.sealOrder.Unlock()
	if err != nil {
		if s != nil {
			s.unpin()
		}
		return err
	}
	if s != nil {
		defer s.unpin()
		if to > from {
			j.roundMsyncsStarted.Add(1)
			j.prefaulter.noteRound(to - dataFrom)
			s.unmapWritten(dataFrom, to)
			err := s.mm.Sync(int(from), int(to-from))
			j.roundMsyncsDone.Add(1)
			if err != nil {
				return j.fail(fmt.Errorf("sync %s [%d,%d): %w", s.path, from, to, err))
			}
		}
	}
	j.mu.Lock()
	if j.cuts != cuts {
		// A truncation ran meanwhile: entries appended after it may
		// reuse indexes at or below last in a segment this round did not
		// sync. Claim nothing; the next round covers them.
		j.mu.Unlock()
		return nil
	}
	if s != nil && s.synced < to {
		s.synced = to
	}
	if s != nil && ckpt.end > s.ckptNext.end {
		s.ckptNext = ckpt
	}
	// A truncation during the round may have lowered last; never claim
	// more than exists.
	last = min(last, j.last.Load())
	if j.durable.Load() < last {
		j.durable.Store(last)
	}
	j.mu.Unlock()
	return nil
}

// wakeWaiters ends every wait so waiters notice failure or close.
func (j *Journal) wakeWaiters() {
	j.syncMu.Lock()
	if !j.syncRunning {
		close(j.syncDone)
		j.syncDone = make(chan struct{})
	}
	j.syncMu.Unlock()
}

// commitLoop is the committer's goroutine (GroupCommit): until stopped,
// whenever appends have woken it, one sync round covers every entry
// appended so far. It returns at the first failure, which is sticky: from
// then on every append and wait reports it.
func (j *Journal) commitLoop(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-j.committer.wake:
		}
		if err := j.waitDurable(context.Background(), j.last.Load()); err != nil {
			return
		}
	}
}
