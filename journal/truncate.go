package journal

import (
	"errors"
	"fmt"
	"io/fs"
)

// TruncateFront discards every entry below idx (log compaction): FirstIndex
// becomes idx. Segments holding only discarded entries are unlinked at once
// and torn down in the background (or by the last reader that pins one),
// which is when the kernel frees their blocks; readers of other segments
// are not waited for. The dead prefix of the segment in which idx starts is
// punched out when nothing pins it (reap.go). If idx is past LastIndex()+1
// the journal becomes empty and its next append gets index idx.
//
// The new first index is durable when TruncateFront returns; the unlinks
// need not be (recovery removes segments wholly below the first index), so
// the call costs one sync of the meta file and no directory sync.
func (j *Journal) TruncateFront(idx uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.checkWritable(); err != nil {
		return err
	}
	if idx <= j.first.Load() {
		return nil
	}
	if idx > j.last.Load()+1 {
		return j.resetLocked(idx)
	}
	if err := j.flushSealsLocked(); err != nil {
		return err
	}
	j.meta.mu.Lock()
	st := j.meta.state
	st.first = idx
	// The clean record goes in the same write: nothing below has
	// changed a segment yet, and the punch below changes only bytes
	// under the new first index.
	st.clean = segRecord{}
	err := j.meta.writeLocked(j.withIDHigh(st), true)
	j.meta.mu.Unlock()
	if err != nil {
		return j.fail(err)
	}
	j.cleanPending = false
	j.first.Store(idx)
	if err := j.dropBelow(idx, false); err != nil {
		return err
	}
	j.punchCutLocked(idx)
	return nil
}

// dropBelowLocked unlinks the segments that hold no chunk of any entry at
// or above first and syncs the directory (recovery).
func (j *Journal) dropBelowLocked(first uint64) error { return j.dropBelow(first, true) }

// dropBelow unlinks the segments that hold no chunk of any entry at or
// above first, and with syncDir makes the unlinks durable. The caller holds
// the writer lock or, in recovery, runs alone.
func (j *Journal) dropBelow(first uint64, syncDir bool) error {
	ss := j.segs.Load()
	keepFrom := len(ss.segs)
	if first <= j.last.Load() {
		keep := ss.find(first)
		for i, s := range ss.segs {
			if s == keep {
				keepFrom = i
				break
			}
		}
		if keep == nil {
			keepFrom = 0
		}
	}
	if keepFrom == 0 {
		return nil
	}
	return j.removeSegmentsLocked(ss, 0, keepFrom, false, syncDir)
}

// removeSegmentsLocked publishes a set without segs[from:to], then unlinks
// their files and, with syncDir, syncs the directory. Each removed segment
// is unmapped and closed by the reaper, or by its last reader's unpin when
// one still pins it (releaseRemoved).
//
// With recycle set (cuts at the back, Reset) the newest removed segment
// becomes the spare for the next roll instead, when nothing pins it (see
// recycleLocked): it was the tail, so its pages are cached, and a roll into
// it neither allocates fresh pages nor pays for freeing the file's blocks.
func (j *Journal) removeSegmentsLocked(ss *segmentSet, from, to int, recycle, syncDir bool) error {
	segs := make([]*segment, 0, len(ss.segs)-(to-from))
	segs = append(segs, ss.segs[:from]...)
	segs = append(segs, ss.segs[to:]...)
	j.segs.Store(&segmentSet{segs: segs})
	var firstErr error
	for i, s := range ss.segs[from:to] {
		if s == j.active {
			j.active = nil
		}
		s.removed = true
		if recycle && from+i == to-1 {
			if done, err := j.recycleLocked(s); done {
				if err != nil && firstErr == nil {
					firstErr = err
				}
				continue
			}
		}
		if err := j.fs.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) && firstErr == nil {
			firstErr = err
		}
		j.releaseRemoved(s)
	}
	if syncDir {
		if err := j.fs.SyncDir(j.dir); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return j.fail(fmt.Errorf("remove segments: %w", firstErr))
	}
	return nil
}

// TruncateBack discards every entry above idx: LastIndex becomes idx (the
// journal is empty if idx is FirstIndex()-1). Appends then continue at
// idx+1. The truncation is durable when TruncateBack returns, and no
// discarded entry can reappear after a crash, even when new entries line
// up with old frame boundaries: the cut segment is sealed and appends go to
// a new segment, whose chunks carry a different salt. A segment left with
// no entry by the cut is removed with the later ones, and the newest
// removed segment is reused as the file of the next new segment (under a
// new ID, so a new salt) when no reader pins it.
//
// Readers holding views of discarded entries keep valid bytes until they
// release them.
func (j *Journal) TruncateBack(idx uint64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.checkWritable(); err != nil {
		return err
	}
	if idx >= j.last.Load() {
		return nil
	}
	if idx+1 < j.first.Load() {
		return fmt.Errorf("%w: truncate back to %d below first index %d", ErrInvalidIndex, idx, j.first.Load())
	}
	// A pending clean record is cleared by the cut's own meta write
	// (cutLocked): nothing before it changes a segment.
	return j.truncateBackLocked(idx)
}

// truncateBackLocked cuts the log after entry last, which must be at most
// LastIndex: the cut lies at the first chunk of entry last+1.
func (j *Journal) truncateBackLocked(last uint64) error {
	ss := j.segs.Load()
	c := ss.find(last + 1)
	if c != nil {
		// Loaded first: cont comes from the header (a segment found at
		// Open is only loaded when first used).
		if err := c.ensure(); err != nil {
			return err
		}
	}
	if c != nil && c.first == last+1 && !c.cont {
		// No entry of c survives and c holds no part of an earlier one:
		// cut at the end of the segment before it, so that c goes with
		// the later segments (recycled or unlinked) rather than staying
		// behind as an empty sealed tail. Without this, every cut of a
		// suffix that had rolled into a new segment left a whole
		// segment file of nothing until compaction passed it.
		var p *segment
		if i := ss.indexOf(c); i > 0 {
			p = ss.segs[i-1]
		}
		if p == nil {
			return j.cutLocked(last, nil, 0)
		}
		if err := p.ensure(); err != nil {
			return err
		}
		if !p.open { // else c would continue p's last entry: chainOK says c.cont
			return j.cutLocked(last, p, p.writeOff)
		}
	}
	var off int64
	if c != nil {
		if i := uint32(last + 1 - c.first); i < c.count.Load() {
			off = c.slot(i) // a counted entry: its slot is set
		} else {
			// Entry last+1 is not counted in c (recovery cutting a
			// tail whose opening continuation never reached the
			// disk): its data ends where c's does.
			off = c.writeOff
		}
	}
	return j.cutLocked(last, c, off)
}

// cutLocked cuts the log after entry last at offset off of segment c, where
// entry last+1 starts (c nil: no entry survives in any segment). The cut is
// recorded in the meta file first (durably), then c is sealed at off and
// later segments are unlinked. Recovery re-applies the meta record, so a
// crash at any step leaves either the old log or the cut one.
//
// Syncs: the meta record is the one data sync every cut pays. c's data and
// slots must be durable before it (recovery trusts the record's count for c
// without scanning), which costs a sync of c only when they may not be:
// c is the active segment, or its seal is still pending. c's new trailer is
// a deferred seal, made durable by the next sync round, truncation or Close
// (syncSeals): until then the record, which stays in the meta file until a
// later cut or Reset replaces it, seals c at recovery; a later cut that
// keeps c syncs the pending seals of earlier segments before writing its
// own record (prepareCutLocked), and one that cuts into or below c replaces
// the record for c. Removed segment files cost one directory sync.
func (j *Journal) cutLocked(last uint64, c *segment, off int64) error {
	if err := j.prepareCutLocked(c, off); err != nil {
		return err
	}
	ss := j.segs.Load()
	cutPos := ss.indexOf(c)
	if c != nil && cutPos < 0 {
		return j.fail(fmt.Errorf("cut: segment %s is not in the set", c.path))
	}
	var count uint32
	if c != nil {
		count = uint32(last + 1 - c.first)
	}
	j.meta.mu.Lock()
	st := j.meta.state
	st.nextSegID = j.nextSegID
	if c == nil {
		st.cut = segRecord{}
		st.minSegID = j.nextSegID
	} else {
		st.cut = segRecord{segID: c.id, dataEnd: off, count: count, last: last}
	}
	// A clean record goes in the same write (see TruncateBack).
	st.clean = segRecord{}
	err := j.meta.writeLocked(j.withIDHigh(st), true)
	j.meta.mu.Unlock()
	if err != nil {
		return j.fail(err)
	}
	j.cleanPending = false
	j.cuts++
	j.last.Store(last)
	if j.durable.Load() > last {
		j.durable.Store(last)
	}
	if c == nil {
		if len(ss.segs) == 0 {
			return nil
		}
		return j.removeSegmentsLocked(ss, 0, len(ss.segs), true, true)
	}
	c.count.Store(count)
	c.writeOff = off
	if err := c.writeTrailer(count, off, false, false); err != nil {
		return err
	}
	r := &j.reaper
	if r.cutSeals == nil {
		r.cutSeals = map[*segment]*segTrailer{}
	}
	c.sealMu.Lock()
	r.cutSeals[c] = c.deferred
	c.sealMu.Unlock()
	if j.active == c {
		j.active = nil
	}
	if cutPos+1 < len(ss.segs) {
		return j.removeSegmentsLocked(ss, cutPos+1, len(ss.segs), true, true)
	}
	return nil
}

// prepareCutLocked makes durable what a cut at offset off of segment c
// keeps, before the cut record vouches for it: the pending seals of earlier
// segments, and c's data and slots (recovery trusts the record's count for
// c without scanning) unless they are durable already: c is sealed and its
// seal is not pending (a seal is written only after the data and slots it
// describes are synced, and a cut only lowers c's end). The pending seals
// of c and later segments are dropped unwritten: their trailers count
// entries the cut discards (an aborted batch's, say), and a trailer made
// durable before the cut record would revive them if a crash lost the
// record.
func (j *Journal) prepareCutLocked(c *segment, off int64) error {
	needSync := false
	if c != nil {
		// A seal a sync round took from pendingSeals but has not
		// written yet is pending too: its deferred trailer is set until
		// the round has synced the data. The one an earlier cut left
		// describes data and slots that cut made durable, and this cut
		// only lowers the end.
		c.sealMu.Lock()
		needSync = !c.sealed || c.deferred != nil && c.deferred != j.reaper.cutSeals[c]
		c.sealMu.Unlock()
	}
	var keep []*segment
	for _, s := range j.pendingSeals {
		if c != nil && s.id < c.id {
			keep = append(keep, s)
			continue
		}
		s.sealMu.Lock()
		s.deferred = nil
		s.sealMu.Unlock()
		s.unpin()
	}
	j.pendingSeals = nil
	// A sync round may still be writing earlier seals outside the writer
	// lock; these and the cut's own trailer come after them (sealOrder).
	j.sealOrder.Lock()
	err := j.syncSeals(keep)
	j.sealOrder.Unlock()
	if err != nil {
		return err
	}
	if needSync {
		// Data and slots: the slots live at the far end of the file,
		// outside the ranges sync rounds cover.
		if err := c.mm.Sync(0, int(c.size)); err != nil {
			return j.fail(fmt.Errorf("sync %s before cut at %d: %w", c.path, off, err))
		}
	}
	return nil
}

// Reset discards every entry and makes next the index of the next append
// (and FirstIndex). Use it when a Raft follower installs a snapshot past
// its log. It is durable when it returns.
func (j *Journal) Reset(next uint64) error {
	if next == 0 {
		return fmt.Errorf("%w: index 0", ErrInvalidIndex)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.checkWritable(); err != nil {
		return err
	}
	return j.resetLocked(next)
}

func (j *Journal) resetLocked(next uint64) error {
	j.meta.mu.Lock()
	st := j.meta.state
	st.first = next
	st.minSegID = j.nextSegID
	st.nextSegID = j.nextSegID
	st.cut = segRecord{}
	st.clean = segRecord{}
	err := j.meta.writeLocked(j.withIDHigh(st), true)
	j.meta.mu.Unlock()
	if err != nil {
		return j.fail(err)
	}
	j.cleanPending = false
	j.cuts++
	j.first.Store(next)
	j.last.Store(next - 1)
	j.durable.Store(next - 1)
	ss := j.segs.Load()
	if len(ss.segs) == 0 {
		return nil
	}
	return j.removeSegmentsLocked(ss, 0, len(ss.segs), true, true)
}
