package etcd

import (
	"fmt"
	"sync/atomic"

	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/stream"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

func (s *Storage) checkOpen() error {
	if s.closed.Load() {
		return journal.ErrClosed
	}
	return nil
}

// SaveReady persists what a Ready asks to persist before its messages are
// sent: the snapshot (installed with ApplySnapshot semantics), the entries
// (replacing any conflicting suffix) and the HardState, with one sync of
// the journal when rd.MustSync says so and none otherwise (a new term or
// vote adds a sync of the meta file; see Save). When it returns,
// the entries are readable through the Storage and, if rd.MustSync, durable;
// send rd.Messages after it.
//
// It replaces etcd's `wal.Save(rd.HardState, rd.Entries)` +
// `storage.ApplySnapshot(rd.Snapshot)` + `storage.Append(rd.Entries)`.
func (s *Storage) SaveReady(rd raft.Ready) error {
	return s.Save(rd.HardState, rd.Entries, rd.Snapshot, rd.MustSync)
}

// Save persists a snapshot (nil or empty: none), entries and a HardState
// (nil or empty: unchanged), in that order; see SaveReady. With mustSync
// the entries are synced before Save returns. A HardState whose term or
// vote changed is recorded durably (raft requires it before messages are
// sent). A change of the commit index alone is not written at all: raft
// does not need the commit index to be durable (a restarted node learns it
// again from the leader), so it is kept in memory, returned by
// InitialState, and recorded with the next meta write (a term or vote
// change, CreateSnapshot, Compact, ApplySnapshot, Close). A restart after
// a crash may therefore find an older commit index, never one below the
// latest snapshot or compaction point.
//
// The commit index never exceeds the durable end of the log, so that a
// restart after a crash always finds it within [FirstIndex()-1,
// LastIndex()] (raft refuses to start otherwise).
func (s *Storage) Save(hs *pb.HardState, ents []*pb.Entry, snap *pb.Snapshot, mustSync bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.checkOpen(); err != nil {
		return err
	}
	if snap != nil && !raft.IsEmptySnap(snap) {
		if err := s.applySnapshotLocked(snap, hs); err != nil {
			return err
		}
	}
	if len(ents) > 0 {
		if err := s.appendLocked(ents); err != nil {
			return err
		}
		if mustSync && !s.opts.NoSync {
			if err := s.j.Sync(); err != nil {
				return err
			}
		}
	}
	if hs != nil && !raft.IsEmptyHardState(hs) {
		return s.setHardStateLocked(hs)
	}
	return nil
}

// HandleStorageAppend persists a MsgStorageAppend (Config.AsyncStorageWrites:
// the local append thread's work) with the semantics of Save: its snapshot,
// entries and HardState, synced when it carries entries or a new term or
// vote. It returns m.Responses, which the caller must deliver only now that
// Save has returned: the ones addressed to the local node go to its
// Step, the others to the network. The entries are readable through the
// Storage before any response is delivered, as raft requires.
func (s *Storage) HandleStorageAppend(m *pb.Message) ([]*pb.Message, error) {
	if m.GetType() != pb.MsgStorageAppend {
		return nil, fmt.Errorf("etcd: HandleStorageAppend given a %s", m.GetType())
	}
	var hs *pb.HardState
	if m.Term != nil || m.Vote != nil || m.Commit != nil {
		hs = &pb.HardState{Term: m.Term, Vote: m.Vote, Commit: m.Commit}
	}
	if err := s.Save(hs, m.Entries, m.Snapshot, len(m.Entries) > 0); err != nil {
		return nil, err
	}
	return m.Responses, nil
}

// Append appends entries like MemoryStorage.Append: entries below
// FirstIndex are ignored, and entries at or below LastIndex replace the
// existing suffix from the first of them (unchanged entries, equal in index
// and term, are not rewritten). It does not sync: call Sync, or use
// SaveReady, which syncs when raft asks. Entries are kept across a reopen
// once a HardState or a snapshot has been recorded (see Open).
func (s *Storage) Append(ents []*pb.Entry) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.checkOpen(); err != nil {
		return err
	}
	return s.appendLocked(ents)
}

// SetHardState records st, like MemoryStorage.SetHardState, with Save's
// rules: durably (a meta sync) when its term or vote differs from the
// recorded one; when only the commit index changed, in memory until the
// next meta write; the commit index held at or below the durable end of
// the log.
func (s *Storage) SetHardState(st *pb.HardState) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.checkOpen(); err != nil {
		return err
	}
	return s.setHardStateLocked(st)
}

// Sync makes every appended entry durable.
func (s *Storage) Sync() error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	return s.j.Sync()
}

func (s *Storage) setHardStateLocked(st *pb.HardState) error {
	h := hardState{term: st.GetTerm(), vote: st.GetVote(), commit: st.GetCommit(), set: true}
	limit := s.j.Durable()
	if s.opts.NoSync {
		limit = s.j.LastIndex()
	}
	h.commit = max(min(h.commit, limit), s.base.index)
	if h == s.hs {
		return nil
	}
	if s.hs.set && h.term == s.hs.term && h.vote == s.hs.vote {
		// Commit index only: no meta write (see Save).
		s.mu.Lock()
		s.hs = h
		s.mu.Unlock()
		s.hsDirty = true
		return nil
	}
	if err := s.j.UpdateMeta(!s.opts.NoSync, journal.MetaUpdate{Key: keyHardState, Value: h.encode()}); err != nil {
		return err
	}
	s.mu.Lock()
	s.hs = h
	s.mu.Unlock()
	s.hsDirty = false
	return nil
}

// appendLocked implements Append's semantics: the log becomes
// log[:ents[0].Index] + ents.
func (s *Storage) appendLocked(ents []*pb.Entry) error {
	for i := 1; i < len(ents); i++ {
		if ents[i].GetIndex() != ents[i-1].GetIndex()+1 {
			return fmt.Errorf("etcd: append: entry %d follows entry %d", ents[i].GetIndex(), ents[i-1].GetIndex())
		}
	}
	first := s.base.index + 1
	if n := len(ents); n == 0 || ents[n-1].GetIndex() < first {
		return nil
	}
	if ents[0].GetIndex() < first {
		ents = ents[first-ents[0].GetIndex():]
	}
	last := s.j.LastIndex()
	if ents[0].GetIndex() > last+1 {
		return fmt.Errorf("etcd: missing log entry [last: %d, append at: %d]", last, ents[0].GetIndex())
	}
	// Skip the prefix already stored: same index and term is the same
	// entry (Log Matching), and rewriting it would cost a truncation.
	k := 0
	for k < len(ents) && ents[k].GetIndex() <= last {
		t, err := s.Term(ents[k].GetIndex())
		if err != nil {
			return err
		}
		if t != ents[k].GetTerm() {
			break
		}
		k++
	}
	if k == len(ents) {
		if end := ents[k-1].GetIndex(); end < last {
			return s.truncateLocked(end, nil)
		}
		return nil
	}
	ents = ents[k:]
	if ents[0].GetIndex() <= last {
		return s.truncateLocked(ents[0].GetIndex()-1, ents)
	}
	return s.appendNewLocked(ents)
}

// truncateLocked discards the entries after last and appends ents, as one
// change for readers.
func (s *Storage) truncateLocked(last uint64, ents []*pb.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.terms.clear()
	if err := s.j.TruncateBack(last); err != nil {
		return err
	}
	if len(ents) == 0 {
		return nil
	}
	return s.appendNewLocked(ents)
}

// appendNewLocked appends ents, which start at LastIndex()+1, in one
// journal batch.
func (s *Storage) appendNewLocked(ents []*pb.Entry) error {
	enc := &s.enc
	_, _, err := s.j.AppendBatch(func(b *journal.Batch) error {
		for _, e := range ents {
			if e.GetIndex() != b.Next() {
				return fmt.Errorf("etcd: append: entry %d where %d expected", e.GetIndex(), b.Next())
			}
			f, err := entryFlags(e)
			if err != nil {
				return err
			}
			enc.e, enc.flags = e, f
			if _, err := b.Append(enc.fn); err != nil {
				return err
			}
		}
		return nil
	})
	enc.e = nil
	if err != nil {
		return err
	}
	for _, e := range ents {
		s.terms.put(e.GetIndex(), e.GetTerm())
	}
	return nil
}

// entryEncoder streams one entry into the journal. Its write method value
// is bound once, so appending costs no closure allocation.
type entryEncoder struct {
	s     *Storage
	e     *pb.Entry
	flags byte
	fn    func(w *stream.Writer) error
}

func (c *entryEncoder) write(w *stream.Writer) error {
	var h [maxEntryHeader]byte
	n := putEntryHeader(h[:], c.e.GetTerm(), c.flags)
	_, _ = w.Write(h[:n])
	_, _ = w.Write(c.e.Data)
	return w.Err()
}

// termCache remembers the terms of recently appended entries, so that
// raft's frequent Term calls near the end of the log need no journal read.
// Direct-mapped, lock-free: a slot is valid when its index reads the same
// before and after its term.
type termCache struct {
	slots [termCacheSize]struct{ idx, term atomic.Uint64 }
}

const termCacheSize = 1024

func (c *termCache) put(idx, term uint64) {
	sl := &c.slots[idx%termCacheSize]
	sl.idx.Store(0)
	sl.term.Store(term)
	sl.idx.Store(idx)
}

func (c *termCache) get(idx uint64) (uint64, bool) {
	sl := &c.slots[idx%termCacheSize]
	if sl.idx.Load() != idx {
		return 0, false
	}
	t := sl.term.Load()
	if sl.idx.Load() != idx {
		return 0, false
	}
	return t, true
}

func (c *termCache) clear() {
	for i := range c.slots {
		c.slots[i].idx.Store(0)
	}
}
