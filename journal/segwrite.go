package journal

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/spoolhq/spool/mmapio"
)

// newSegmentLocked creates, reserves, maps and publishes a new active
// segment whose first chunk belongs to entry base (a continuation of it when
// cont is set). The segment's header is durable, and its directory entry too,
// before it is used: a later segment may only exist if every earlier one is
// sealed (see seal).
func (j *Journal) newSegmentLocked(base uint64, cont bool) (*segment, error) {
	if j.cleanPending {
		if err := j.clearCleanLocked(); err != nil {
			return nil, err
		}
	}
	id := j.nextSegID
	first := base
	if cont {
		first++
	}
	// The file is prepared under a temporary name and renamed once its
	// header is durable, so a segment name never refers to a file without
	// a valid header, whenever a crash strikes.
	path := filepath.Join(j.dir, segmentName(id, first))
	tmp := path + tmpSuffix
	// The file comes prepared (reserved, mapped, head faulted in): by the
	// spare maker ahead of the roll, or here if no spare is ready.
	spare := j.takeSpareLocked()
	if spare == nil {
		// Not fatal but for a failed sync: nothing was acknowledged into
		// this segment, nor published (a full disk is ErrNoSpace, a
		// file that cannot be created ErrCreate; the journal stays
		// usable, and the next append tries again).
		f, err := j.createFile(tmp)
		if err != nil {
			return nil, err
		}
		if spare, err = j.prepareFile(f, tmp, j.opts.SegmentSize); err != nil {
			return nil, err
		}
	}
	f, tmp := spare.file, spare.path
	s := &segment{j: j, id: id, path: path, file: f, mm: spare.mm, data: spare.mm.Bytes(), size: j.opts.SegmentSize, base: base, cont: cont}
	s.initLocks(j)
	s.refs.Store(1)
	s.loaded.Store(true)
	j.liveSegments.Add(1)
	s.salt = segmentSalt(j.id, id)
	s.ckpt = ckptOff
	s.first = base
	if cont {
		s.first++
	}
	s.writeOff, s.highOff, s.synced = dataStart, dataStart, dataStart
	renamed := false
	abort := func(err error) (*segment, error) {
		s.unpin()
		if renamed {
			_ = j.fs.Remove(path)
		} else {
			_ = j.fs.Remove(tmp)
		}
		return nil, err
	}
	h := segHeader{version: FormatVersion, journalID: j.id, segID: id, base: base, size: s.size, created: time.Now().UnixNano()}
	if cont {
		h.flags |= segFlagContinues
	}
	var hb [headerSize]byte
	h.encode(hb[:])
	if _, err := f.WriteAt(hb[:], 0); err != nil {
		return abort(j.fail(fmt.Errorf("write header %s: %w", path, err)))
	}
	// The head pages are faulted in, hence dirty: sync only the header's
	// page, not the 2 MiB of zeros behind it (the reservation was synced
	// when the file was prepared).
	if err := s.mm.Sync(0, mmapio.PageSize()); err != nil {
		return abort(j.fail(fmt.Errorf("sync %s: %w", tmp, err)))
	}
	if err := j.fs.Rename(tmp, path); err != nil {
		return abort(j.fail(fmt.Errorf("rename %s: %w", tmp, err)))
	}
	renamed = true
	if err := j.fs.SyncDir(j.dir); err != nil {
		return abort(j.fail(fmt.Errorf("sync dir %s: %w", j.dir, err)))
	}
	s.faultedTo.Store(min(int64(prefaultHead), s.trailerOff()))
	s.fill.arm(min(int64(prefaultHead), zeroCap(s.size)))
	j.nextSegID = id + 1
	old := j.segs.Load()
	segs := make([]*segment, len(old.segs), len(old.segs)+1)
	copy(segs, old.segs)
	j.segs.Store(&segmentSet{segs: append(segs, s)})
	j.active = s
	return s, nil
}

// seal writes the segment's trailer for its current count and write
// offset and makes the whole segment durable.
func (s *segment) seal() error {
	return s.writeTrailer(s.count.Load(), s.writeOff, s.open, true)
}

// writeTrailer seals the segment: count entries start in it, its data ends
// at end, and open says the last counted entry continues into the next
// segment. After it the segment never takes another chunk.
//
// With durable set the whole segment (data, slots, trailer) is synced now.
// Otherwise the seal is deferred to the next sync round, which syncs
// pending seals before the active segment; so a roll costs no sync on the
// append path, and after a crash an unsealed segment that is not the last
// means nothing after it was ever synced (see settleScanned). The caller
// holds the writer lock.
func (s *segment) writeTrailer(count uint32, end int64, open, durable bool) error {
	s.sealed, s.dataEnd, s.open = true, end, open
	t := segTrailer{journalID: s.j.id, segID: s.id, firstStart: s.first, count: count, dataEnd: end}
	if open {
		t.flags |= trailerFlagOpen
	}
	s.sealMu.Lock()
	if !durable {
		// The trailer stays out of the mapping until syncSeals has made
		// the data durable: written now, the kernel could write its page
		// back before the data pages, and a crash would leave a valid
		// trailer vouching for torn data.
		s.deferred = &t
		s.sealMu.Unlock()
		if s.tryPin() {
			s.j.pendingSeals = append(s.j.pendingSeals, s)
		}
		return nil
	}
	s.deferred = nil
	t.encode(s.data[s.trailerOff():])
	s.sealMu.Unlock()
	if testHookSeal != nil {
		testHookSeal(s, true)
	}
	s.unmapWritten(dataStart, end)
	if err := s.mm.Sync(0, int(s.size)); err != nil {
		return s.j.fail(fmt.Errorf("seal %s: %w", s.path, err))
	}
	s.synced = max(s.synced, end)
	return nil
}

// testHookSeal, set only by tests before Open and cleared after Close, is
// called as seals are written: with trailer false after a deferred seal's
// data is synced and before its trailer is written, with trailer true
// after a trailer is written into the mapping (seal_order_test.go).
var testHookSeal func(s *segment, trailer bool)

// flushSealsLocked makes every pending seal durable, in segment order. It
// runs under the writer lock (truncations, Close); sync rounds take the
// list instead and sync outside the lock, and a round still writing
// earlier seals finishes first (sealOrder).
func (j *Journal) flushSealsLocked() error {
	pending := j.pendingSeals
	j.pendingSeals = nil
	j.sealOrder.Lock()
	defer j.sealOrder.Unlock()
	return j.syncSeals(pending)
}

// syncSeals syncs the given sealed segments and drops their pins.
func (j *Journal) syncSeals(pending []*segment) error {
	var err error
	for _, s := range pending {
		if err == nil && j.failed.Load() == nil {
			if serr := s.syncDeferredSeal(); serr != nil {
				err = j.fail(fmt.Errorf("seal %s: %w", s.path, serr))
			}
		}
		s.unpin()
	}
	if err == nil {
		err = j.Err()
	}
	return err
}

// syncDeferredSeal makes a deferred seal durable in two steps: the data and
// slots first, then the trailer, so that a trailer on disk always describes
// data that is on disk. A cut that sealed the segment again meanwhile has
// written its own trailer, which wins.
func (s *segment) syncDeferredSeal() error {
	s.sealMu.Lock()
	var end int64
	if s.deferred != nil {
		end = s.deferred.dataEnd
	}
	s.sealMu.Unlock()
	s.unmapWritten(dataStart, end)
	if err := s.mm.Sync(0, int(s.size)); err != nil {
		return err
	}
	if testHookSeal != nil {
		testHookSeal(s, false)
	}
	s.sealMu.Lock()
	t := s.deferred
	if t != nil {
		t.encode(s.data[s.trailerOff():])
		s.deferred = nil
	}
	s.sealMu.Unlock()
	if t == nil {
		return nil
	}
	if testHookSeal != nil {
		testHookSeal(s, true)
	}
	return s.mm.Sync(int(s.trailerOff()), trailerSize)
}

// clearCleanLocked removes the clean-shutdown record before the first
// mutation after a clean open: from then on the active segment may grow
// past it, and a crash must lead to a scan.
func (j *Journal) clearCleanLocked() error {
	j.meta.mu.Lock()
	defer j.meta.mu.Unlock()
	st := j.meta.state
	st.clean = segRecord{}
	if err := j.meta.writeLocked(j.withIDHigh(st), true); err != nil {
		return j.fail(err)
	}
	j.cleanPending = false
	return nil
}
