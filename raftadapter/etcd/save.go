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
// sent).
//
// The commit index is stored as given, held only within [FirstIndex()-1,
// LastIndex()] (raft never hands out one outside), and InitialState
// returns it. A change of the commit index alone is not written at once:
// raft does not need it durable before messages go out (it asks for no
// sync), and writing it would cost a meta file sync per Ready. It is
// recorded by Sync, by Close and by the next meta write (a term or vote
// change, CreateSnapshot, Compact, ApplySnapshot). See "Durability" in the
// package doc for what a crash leaves.
//
// The first Save of a new Storage that carries entries and a HardState (a
// bootstrap, or a new member's first append) marks itself in the meta
// store first (one more meta sync, once): should a crash come between its
// entries and its HardState, Open discards the entries, so that the node
// starts afresh instead of restarting on a log whose configuration was
// never committed.
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
	hasHS := hs != nil && !raft.IsEmptyHardState(hs)
	if len(ents) > 0 {
		if hasHS && !s.firstSave && s.freshLocked() {
			if err := s.j.UpdateMeta(!s.opts.NoSync, journal.MetaUpdate{Key: keyFirstSave, Value: firstSaveRecord()}); err != nil {
				return err
			}
			s.firstSave = true
		}
		if err := s.appendLocked(ents); err != nil {
			return err
		}
		if mustSync && !s.opts.NoSync {
			if err := s.j.Sync(); err != nil {
				return err
			}
		}
	}
	if hasHS {
		return s.setHardStateLocked(hs)
	}
	return nil
}

// freshLocked reports whether the Storage holds nothing at all. The caller
// holds wmu.
func (s *Storage) freshLocked() bool {
	return !s.hs.set && s.snap.cs == nil && s.base.index == 0 && s.j.LastIndex() == 0
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
// SaveReady, which syncs when raft asks. Entries appended with Append are
// kept across a reopen whether or not a HardState was ever recorded (once
// durable: see Sync).
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
// recorded one; when only the commit index changed, in memory until Sync,
// Close or the next meta write. The commit index is kept as given, held
// only within [FirstIndex()-1, LastIndex()].
func (s *Storage) SetHardState(st *pb.HardState) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.checkOpen(); err != nil {
		return err
	}
	return s.setHardStateLocked(st)
}

// Sync makes everything written so far durable: the appended entries,
// then the commit index last given to SaveReady or SetHardState, when it
// was not yet recorded (one meta sync). An application that persists its
// applied index, to pass it as Config.Applied at restart, calls Sync
// before it persists one: raft refuses to start with Applied past the
// recorded commit index.
func (s *Storage) Sync() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.checkOpen(); err != nil {
		return err
	}
	if err := s.j.Sync(); err != nil {
		return err
	}
	return s.recordCommitLocked(true)
}

// recordCommitLocked writes a commit index kept in memory (hsDirty). The
// caller holds wmu, and has made the entries up to it durable if it asks
// for a durable write.
func (s *Storage) recordCommitLocked(durable bool) error {
	if !s.hsDirty {
		return nil
	}
	if err := s.j.UpdateMeta(durable, journal.MetaUpdate{Key: keyHardState, Value: s.hs.encode()}); err != nil {
		return err
	}
	s.hsDirty = false
	return nil
}

func (s *Storage) setHardStateLocked(st *pb.HardState) error {
	h := hardState{term: st.GetTerm(), vote: st.GetVote(), commit: st.GetCommit(), set: true}
	// Raft never gives a commit index outside [FirstIndex()-1,
	// LastIndex()], and refuses to restart on one: hold it there. It may
	// run ahead of the durable log (entries appended without a sync);
	// Open holds it within the log a crash leaves.
	h.commit = max(min(h.commit, s.j.LastIndex()), s.base.index)
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
	ups := []journal.MetaUpdate{{Key: keyHardState, Value: h.encode()}}
	if s.firstSave {
		// The first Save's HardState: its entries are kept from now on.
		ups = append(ups, journal.MetaUpdate{Key: keyFirstSave})
	}
	if err := s.j.UpdateMeta(!s.opts.NoSync, ups...); err != nil {
		return err
	}
	s.mu.Lock()
	s.hs = h
	s.mu.Unlock()
	s.hsDirty = false
	s.firstSave = false
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
