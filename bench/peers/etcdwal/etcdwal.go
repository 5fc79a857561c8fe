package etcdwal

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"go.etcd.io/etcd/server/v3/storage/wal"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	etcdraft "go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/spoolhq/spool/bench/store"
)

// Name is the column name of etcd's wal with MemoryStorage.
const Name = "etcd-wal"

// Spec returns the benchmark column for etcd's wal + MemoryStorage.
func Spec() store.Spec {
	return store.Spec{
		Name:   Name,
		Kind:   store.Peer,
		Module: "go.etcd.io/etcd/server/v3",
		Caps:   store.CapLogStore,
		Notes: []string{
			"etcd-wal: server/v3/storage/wal for durability, raft/v3 MemoryStorage for reads (the whole log lives in memory); reopen replays the wal with ReadAll.",
			"etcd-wal: DeleteRange of a prefix = MemoryStorage.Compact + wal.SaveSnapshot + ReleaseLockTo + removal of the released 64 MB wal files (etcd's purger, with no --max-wals floor). The wal itself has no prefix delete.",
			"etcd-wal: raft.Log Extensions, AppendedAt and types other than command/configuration are not kept (raftpb.Entry has no room for them).",
		},
		Open: Open,
	}
}

// Store adapts etcd's wal and a MemoryStorage to raft.LogStore.
type Store struct {
	dir string
	lg  *zap.Logger

	mu     sync.Mutex // serializes StoreLogs and DeleteRange
	w      *wal.WAL
	commit uint64 // commit index recorded in the next HardState
	mark   mark   // last compaction point

	ms atomic.Pointer[etcdraft.MemoryStorage] // replaced whole by a suffix delete
}

// Open opens (or creates) the wal in dir/wal and replays it into a fresh
// MemoryStorage.
func Open(dir string) (store.Store, error) {
	s := &Store{dir: dir, lg: zap.NewNop()}
	walDir := filepath.Join(dir, "wal")
	if !wal.Exist(walDir) {
		w, err := wal.Create(s.lg, walDir, nil)
		if err != nil {
			return nil, err
		}
		s.w = w
		s.ms.Store(etcdraft.NewMemoryStorage())
		return s, nil
	}
	m, err := readMark(dir)
	if err != nil {
		return nil, err
	}
	w, err := wal.Open(s.lg, walDir, &walpb.Snapshot{Index: new(m.index), Term: new(m.term)})
	if err != nil {
		return nil, err
	}
	_, hs, ents, err := w.ReadAll()
	if err != nil {
		w.Close()
		return nil, err
	}
	ms := etcdraft.NewMemoryStorage()
	if m.index > 0 {
		if err := ms.ApplySnapshot(snapshotAt(m)); err != nil {
			w.Close()
			return nil, err
		}
	}
	if err := ms.SetHardState(hs); err != nil {
		w.Close()
		return nil, err
	}
	if err := ms.Append(ents); err != nil {
		w.Close()
		return nil, err
	}
	s.w, s.mark, s.commit = w, m, hs.GetCommit()
	s.ms.Store(ms)
	return s, nil
}

// bounds returns the first and last index of ms; last < first when empty.
func bounds(ms *etcdraft.MemoryStorage) (first, last uint64) {
	first, _ = ms.FirstIndex() // MemoryStorage never fails these
	last, _ = ms.LastIndex()
	return first, last
}

// FirstIndex returns the first index in the log, 0 when it is empty.
func (s *Store) FirstIndex() (uint64, error) {
	first, last := bounds(s.ms.Load())
	if last < first {
		return 0, nil
	}
	return first, nil
}

// LastIndex returns the last index in the log, 0 when it is empty.
func (s *Store) LastIndex() (uint64, error) {
	first, last := bounds(s.ms.Load())
	if last < first {
		return 0, nil
	}
	return last, nil
}

// GetLog reads the entry at index from the MemoryStorage. log.Data is the
// stored entry's own (immutable) buffer.
func (s *Store) GetLog(index uint64, log *raft.Log) error {
	ms := s.ms.Load()
	first, last := bounds(ms)
	if index < first || index > last {
		return raft.ErrLogNotFound
	}
	ents, err := ms.Entries(index, index+1, math.MaxUint64)
	if errors.Is(err, etcdraft.ErrCompacted) || errors.Is(err, etcdraft.ErrUnavailable) || (err == nil && len(ents) == 0) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return err
	}
	e := ents[0]
	*log = raft.Log{Index: e.GetIndex(), Term: e.GetTerm(), Type: logType(e.GetType()), Data: e.Data}
	return nil
}

// StoreLog stores one entry.
func (s *Store) StoreLog(log *raft.Log) error { return s.StoreLogs([]*raft.Log{log}) }

// StoreLogs saves entries to the wal (one fdatasync) and appends them to the
// MemoryStorage.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.ms.Load()
	first, last := bounds(ms)
	if next := logs[0].Index; next > last+1 || (next < first && last >= first) {
		return fmt.Errorf("etcd adapter: entry %d does not follow the log [%d, %d]", next, first, last)
	}
	ents := make([]*raftpb.Entry, len(logs))
	for i, l := range logs {
		ents[i] = &raftpb.Entry{
			Term:  new(l.Term),
			Index: new(l.Index),
			Type:  new(entryType(l.Type)),
			Data:  bytes.Clone(l.Data),
		}
	}
	tail := logs[len(logs)-1]
	hs := &raftpb.HardState{Term: new(tail.Term), Vote: new(uint64(1)), Commit: new(s.commit)}
	if err := s.w.Save(hs, ents); err != nil {
		return err
	}
	s.commit = tail.Index
	if err := ms.SetHardState(hs); err != nil {
		return err
	}
	return ms.Append(ents)
}

// DeleteRange deletes [lo, hi], which must be a prefix or a suffix of the
// log (raft deletes nothing else). See the package documentation for what
// each case does.
func (s *Store) DeleteRange(lo, hi uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.ms.Load()
	first, last := bounds(ms)
	switch {
	case lo > hi || last < first || hi < first || lo > last:
		return nil
	case lo <= first:
		return s.compactLocked(ms, min(hi, last))
	case hi >= last:
		return s.truncateLocked(ms, first, lo)
	default:
		return fmt.Errorf("etcd adapter: DeleteRange(%d, %d) is neither a prefix nor a suffix of [%d, %d]", lo, hi, first, last)
	}
}

// truncateLocked replaces ms by a MemoryStorage holding [first, lo).
func (s *Store) truncateLocked(ms *etcdraft.MemoryStorage, first, lo uint64) error {
	snap, err := ms.Snapshot()
	if err != nil {
		return err
	}
	kept, err := ms.Entries(first, lo, math.MaxUint64)
	if err != nil {
		return err
	}
	hs, _, err := ms.InitialState()
	if err != nil {
		return err
	}
	nms := etcdraft.NewMemoryStorage()
	if snap.GetMetadata().GetIndex() > 0 {
		if err := nms.ApplySnapshot(snap); err != nil {
			return err
		}
	}
	if err := nms.Append(kept); err != nil {
		return err
	}
	if err := nms.SetHardState(hs); err != nil {
		return err
	}
	s.ms.Store(nms)
	return nil
}

// Close syncs and closes the wal.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Close()
}

func entryType(t raft.LogType) raftpb.EntryType {
	if t == raft.LogConfiguration {
		return raftpb.EntryType_EntryConfChange
	}
	return raftpb.EntryType_EntryNormal
}

func logType(t raftpb.EntryType) raft.LogType {
	if t == raftpb.EntryType_EntryConfChange {
		return raft.LogConfiguration
	}
	return raft.LogCommand
}
