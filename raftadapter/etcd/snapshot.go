package etcd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/mmapio"
	"github.com/zeebo/xxh3"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Snapshot data file, beside the journal's files (the journal ignores names
// it does not know):
//
//	DIR/SNAP-<index, 16 hex>-<term, 16 hex>
//
//	0      8        12       16       24      32        40        48        56
//	+------+--------+--------+--------+-------+---------+---------+---------+------...
//	|magic |version |reserved| index  | term  | data len| xxh3    | xxh3 of | data
//	|      | u32    | u32    |        |       |         | of data | [0,48)  |
//	+------+--------+--------+--------+-------+---------+---------+---------+------...
//
// It is written to SNAP.tmp, synced, renamed and the directory synced before
// the meta record naming it is written, so the record never names a missing
// or partial file; files the record does not name are removed at Open.
const (
	snapMagic       = "SPOOLSNP"
	snapFileVersion = 1
	snapHeaderSize  = 56
	snapTmpName     = "SNAP.tmp"
	snapPrefix      = "SNAP-"
)

func snapName(index, term uint64) string {
	return fmt.Sprintf("%s%016x-%016x", snapPrefix, index, term)
}

func (s *Storage) snapPath(index, term uint64) string {
	return filepath.Join(s.dir, snapName(index, term))
}

// writeSnapshotFile durably writes data as the data file of (index, term)
// and returns its checksum.
func (s *Storage) writeSnapshotFile(index, term uint64, data []byte) (uint64, error) {
	sum := xxh3.Hash(data)
	var h [snapHeaderSize]byte
	copy(h[:8], snapMagic)
	binary.LittleEndian.PutUint32(h[8:], snapFileVersion)
	binary.LittleEndian.PutUint64(h[16:], index)
	binary.LittleEndian.PutUint64(h[24:], term)
	binary.LittleEndian.PutUint64(h[32:], uint64(len(data)))
	binary.LittleEndian.PutUint64(h[40:], sum)
	binary.LittleEndian.PutUint64(h[48:], xxh3.Hash(h[:48]))

	tmp := filepath.Join(s.dir, snapTmpName)
	if err := s.fs.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("etcd: snapshot file: %w", err)
	}
	f, err := s.fs.Create(tmp)
	if err != nil {
		return 0, fmt.Errorf("etcd: snapshot file: %w", err)
	}
	_, err = f.WriteAt(h[:], 0)
	if err == nil {
		_, err = f.WriteAt(data, snapHeaderSize)
	}
	if err == nil {
		err = mmapio.Publish(s.fs, f, s.snapPath(index, term), !s.opts.NoSync)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("etcd: snapshot file %s: %w", snapName(index, term), err)
	}
	return sum, nil
}

// readSnapshotData reads and verifies the data of rec.
func (s *Storage) readSnapshotData(rec snapRecord) ([]byte, error) {
	if rec.dataLen == 0 {
		return nil, nil
	}
	path := s.snapPath(rec.index, rec.term)
	f, err := s.fs.Open(path, false)
	if err != nil {
		return nil, fmt.Errorf("etcd: snapshot %d: %w", rec.index, err)
	}
	defer f.Close()
	// The length comes from the meta record: check it against the file
	// before allocating anything.
	if size, err := f.Size(); err != nil {
		return nil, fmt.Errorf("etcd: snapshot %d: %w", rec.index, err)
	} else if rec.dataLen > maxSnapDataLen || size != snapHeaderSize+int64(rec.dataLen) {
		return nil, fmt.Errorf("%w: %s: %d bytes, the snapshot record says %d of data", journal.ErrCorrupt, path, size, rec.dataLen)
	}
	var h [snapHeaderSize]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return nil, fmt.Errorf("%w: %s: header: %w", journal.ErrCorrupt, path, err)
	}
	if string(h[:8]) == snapMagic && binary.LittleEndian.Uint64(h[48:]) == xxh3.Hash(h[:48]) {
		if v := binary.LittleEndian.Uint32(h[8:]); v != snapFileVersion {
			return nil, fmt.Errorf("%w: %s: snapshot file version %d", journal.ErrVersion, path, v)
		}
	}
	if string(h[:8]) != snapMagic || binary.LittleEndian.Uint64(h[48:]) != xxh3.Hash(h[:48]) ||
		binary.LittleEndian.Uint64(h[16:]) != rec.index || binary.LittleEndian.Uint64(h[24:]) != rec.term ||
		binary.LittleEndian.Uint64(h[32:]) != rec.dataLen || binary.LittleEndian.Uint64(h[40:]) != rec.dataSum {
		return nil, fmt.Errorf("%w: %s: header does not match the snapshot record", journal.ErrCorrupt, path)
	}
	data := make([]byte, rec.dataLen)
	if _, err := f.ReadAt(data, snapHeaderSize); err != nil {
		return nil, fmt.Errorf("%w: %s: data: %w", journal.ErrCorrupt, path, err)
	}
	if xxh3.Hash(data) != rec.dataSum {
		return nil, fmt.Errorf("%w: %s: data checksum mismatch", journal.ErrCorrupt, path)
	}
	return data, nil
}

// cleanSnapshotFiles removes snapshot files the record does not name and
// checks that the one it names exists.
func (s *Storage) cleanSnapshotFiles() error {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return fmt.Errorf("etcd: list %s: %w", s.dir, err)
	}
	keep := ""
	if s.snap.dataLen > 0 && s.opts.SnapshotData == nil {
		keep = snapName(s.snap.index, s.snap.term)
	}
	found := keep == ""
	removed := false
	for _, n := range names {
		switch {
		case n == keep:
			found = true
		case n == snapTmpName || strings.HasPrefix(n, snapPrefix):
			if err := s.fs.Remove(filepath.Join(s.dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("etcd: remove %s: %w", n, err)
			}
			removed = true
		}
	}
	if !found {
		return fmt.Errorf("%w: %s: snapshot file %s missing", journal.ErrCorrupt, s.dir, keep)
	}
	if removed && !s.opts.NoSync {
		return s.fs.SyncDir(s.dir)
	}
	return nil
}

// removeSnapshotFile removes the data file of an older snapshot (best
// effort: Open removes leftovers).
func (s *Storage) removeSnapshotFile(old snapRecord) {
	if old.dataLen == 0 || s.opts.SnapshotData != nil {
		return
	}
	_ = s.fs.Remove(s.snapPath(old.index, old.term))
}

// storeSnapshotLocked writes the data file of a new snapshot (unless the
// application keeps snapshot data) and returns its record. The caller
// holds wmu and snapMu.
func (s *Storage) storeSnapshotLocked(index, term uint64, cs *pb.ConfState, data []byte) (snapRecord, error) {
	if cs == nil {
		// A snapshot without a ConfState records an empty one, as a
		// reopened Storage would read it back: the record exists.
		cs = &pb.ConfState{}
	}
	rec := snapRecord{index: index, term: term, cs: cs}
	if s.opts.SnapshotData != nil || len(data) == 0 {
		return rec, nil
	}
	sum, err := s.writeSnapshotFile(index, term, data)
	if err != nil {
		return rec, err
	}
	rec.dataLen, rec.dataSum = uint64(len(data)), sum
	return rec, nil
}

// CreateSnapshot records a snapshot of the state machine at index i, which
// must be in [FirstIndex()-1, LastIndex()], like MemoryStorage's: cs is the
// ConfState at i (nil keeps the previous snapshot's), data the state
// machine's serialized state. The snapshot is durable when CreateSnapshot
// returns; Snapshot returns it from then on. It returns
// raft.ErrSnapOutOfDate if i is not past the current snapshot. The returned
// snapshot's Data is data itself, not a copy.
//
// The log is not compacted: call Compact for that.
func (s *Storage) CreateSnapshot(i uint64, cs *pb.ConfState, data []byte) (*pb.Snapshot, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	old := s.snap
	term, err := s.termLocked(i)
	s.mu.RUnlock()
	if i <= old.index {
		return nil, raft.ErrSnapOutOfDate
	}
	if err != nil {
		if err == raft.ErrUnavailable {
			return nil, fmt.Errorf("etcd: snapshot %d is out of bound lastindex(%d): %w", i, s.j.LastIndex(), err)
		}
		return nil, err
	}
	if cs == nil {
		cs = old.cs
	} else {
		cs = proto.CloneOf(cs)
	}
	// The record must never name an index a crash could take from the
	// log: make the entries up to i durable first (applied entries
	// normally are already).
	if i > s.j.Durable() && !s.opts.NoSync {
		if err := s.j.Sync(); err != nil {
			return nil, err
		}
	}
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	rec, err := s.storeSnapshotLocked(i, term, cs, data)
	if err != nil {
		return nil, err
	}
	enc, err := rec.encode()
	if err != nil {
		return nil, err
	}
	ups := []journal.MetaUpdate{{Key: keySnap, Value: enc}}
	// The recorded commit index goes with it, at least i (a snapshot is of
	// applied, hence committed, entries): raft refuses to restart with
	// Config.Applied, the snapshot's index, past the commit index.
	s.mu.RLock()
	hs := s.hs
	s.mu.RUnlock()
	if hs.set && (s.hsDirty || hs.commit < i) {
		hs.commit = max(hs.commit, i)
		ups = append(ups, journal.MetaUpdate{Key: keyHardState, Value: hs.encode()})
	}
	if err := s.j.UpdateMeta(!s.opts.NoSync, ups...); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.snap, s.hs = rec, hs
	s.mu.Unlock()
	s.hsDirty = false
	if old.index != rec.index || old.term != rec.term {
		s.removeSnapshotFile(old)
	}
	return &pb.Snapshot{Data: data, Metadata: rec.metadata()}, nil
}

// Compact discards the entries before compactIndex, like MemoryStorage's:
// FirstIndex becomes compactIndex+1 and Term(compactIndex) keeps answering.
// It returns raft.ErrCompacted if compactIndex <= FirstIndex()-1. The
// application must not compact past its applied index. Disk space of
// segments holding only discarded entries is reclaimed at once (once no
// zero-copy reader pins them).
func (s *Storage) Compact(compactIndex uint64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.checkOpen(); err != nil {
		return err
	}
	s.mu.RLock()
	base, hs := s.base, s.hs
	term, err := s.termLocked(compactIndex)
	s.mu.RUnlock()
	if compactIndex <= base.index {
		return raft.ErrCompacted
	}
	if err != nil {
		if err == raft.ErrUnavailable {
			return fmt.Errorf("etcd: compact %d is out of bound lastindex(%d): %w", compactIndex, s.j.LastIndex(), err)
		}
		return err
	}
	np := logPoint{index: compactIndex, term: term, kind: pointCompact}
	ups := []journal.MetaUpdate{{Key: keyBase, Value: np.encode()}}
	if hs.set && (s.hsDirty || hs.commit < compactIndex) {
		// Compacted entries are applied, hence committed: keep the
		// recorded commit index inside [FirstIndex()-1, LastIndex()].
		// A newer commit index kept in memory is recorded too.
		hs.commit = max(hs.commit, compactIndex)
		ups = append(ups, journal.MetaUpdate{Key: keyHardState, Value: hs.encode()})
	}
	// The record goes first: after a crash Open completes the truncation.
	if err := s.j.UpdateMeta(!s.opts.NoSync, ups...); err != nil {
		return err
	}
	s.mu.Lock()
	s.base, s.hs = np, hs
	s.mu.Unlock()
	s.hsDirty = false
	return s.j.TruncateFront(compactIndex + 1)
}

// ApplySnapshot replaces the log with snap, like MemoryStorage's: every
// entry is discarded, FirstIndex becomes snap's index+1, and Snapshot
// returns snap. It returns raft.ErrSnapOutOfDate for a snapshot older than
// the current one. It is durable when it returns. SaveReady calls it for a
// Ready's snapshot.
func (s *Storage) ApplySnapshot(snap *pb.Snapshot) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.checkOpen(); err != nil {
		return err
	}
	return s.applySnapshotLocked(snap, nil)
}

// applySnapshotLocked installs snap; next, if not nil, is the HardState
// that accompanies it (a Ready's), recorded in the same atomic meta update.
func (s *Storage) applySnapshotLocked(snap *pb.Snapshot, next *pb.HardState) error {
	meta := snap.GetMetadata()
	index, term := meta.GetIndex(), meta.GetTerm()
	s.mu.RLock()
	old, hs := s.snap, s.hs
	s.mu.RUnlock()
	if old.index != 0 && old.index >= index {
		return raft.ErrSnapOutOfDate
	}
	var cs *pb.ConfState
	if meta.GetConfState() != nil {
		cs = proto.CloneOf(meta.GetConfState())
	}
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	rec, err := s.storeSnapshotLocked(index, term, cs, snap.GetData())
	if err != nil {
		return err
	}
	enc, err := rec.encode()
	if err != nil {
		return err
	}
	np := logPoint{index: index, term: term, kind: pointReset}
	ups := []journal.MetaUpdate{{Key: keySnap, Value: enc}, {Key: keyBase, Value: np.encode()}}
	if next != nil && !raft.IsEmptyHardState(next) {
		hs = hardState{term: next.GetTerm(), vote: next.GetVote(), commit: next.GetCommit(), set: true}
	}
	if hs.set {
		// The snapshot's entries are committed: the commit index is at
		// least index, and a higher one (a Ready's, whose entries follow
		// the snapshot; or the one already recorded, as MemoryStorage
		// keeps it) is recorded as it is, never lowered. Until the
		// entries after index are durable it lies past the log; Open
		// holds it to what a crash leaves. The term must not be below
		// the log's last term.
		hs.commit = max(hs.commit, index)
		if hs.term < term {
			hs.term, hs.vote = term, 0
		}
	}
	if hs.set && (hs != s.hs || s.hsDirty) {
		ups = append(ups, journal.MetaUpdate{Key: keyHardState, Value: hs.encode()})
	}
	if s.firstSave {
		// A snapshot is recorded: Open keeps the entries from now on.
		ups = append(ups, journal.MetaUpdate{Key: keyFirstSave})
	}
	if err := s.j.UpdateMeta(!s.opts.NoSync, ups...); err != nil {
		return err
	}
	s.firstSave = false
	if hs.set {
		s.hsDirty = false
	}
	s.mu.Lock()
	s.snap, s.base, s.hs = rec, np, hs
	s.terms.clear()
	err = s.j.Reset(index + 1)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if old.index != rec.index || old.term != rec.term {
		s.removeSnapshotFile(old)
	}
	return nil
}
