package etcdwal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.etcd.io/etcd/client/pkg/v3/fileutil"
	"go.etcd.io/etcd/server/v3/storage/wal/walpb"
	etcdraft "go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
)

// markFile stands in for etcd's snap directory: it records the index and
// term of the last compaction, where the next Open starts reading the wal.
const markFile = "compacted"

// mark is a compaction point.
type mark struct{ index, term uint64 }

func snapshotAt(m mark) *raftpb.Snapshot {
	return &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{
		Index:     new(m.index),
		Term:      new(m.term),
		ConfState: &raftpb.ConfState{},
	}}
}

// readMark returns the recorded compaction point, the zero mark when there
// is none.
func readMark(dir string) (mark, error) {
	b, err := os.ReadFile(filepath.Join(dir, markFile))
	if errors.Is(err, fs.ErrNotExist) {
		return mark{}, nil
	}
	if err != nil {
		return mark{}, err
	}
	if len(b) != 20 || crc32.ChecksumIEEE(b[:16]) != binary.LittleEndian.Uint32(b[16:]) {
		return mark{}, fmt.Errorf("etcd adapter: corrupt %s", markFile)
	}
	return mark{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])}, nil
}

// writeMark records m durably: write a temporary file, fsync it, rename it
// over the mark, fsync the directory.
func writeMark(dir string, m mark) error {
	b := binary.LittleEndian.AppendUint64(nil, m.index)
	b = binary.LittleEndian.AppendUint64(b, m.term)
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	tmp := filepath.Join(dir, markFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	f, err := os.Open(tmp)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, markFile)); err != nil {
		return err
	}
	d, err := fileutil.OpenDir(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return fileutil.Fsync(d)
}

// compactLocked deletes [first, hi] the way an etcd-raft application
// compacts after a snapshot.
func (s *Store) compactLocked(ms *etcdraft.MemoryStorage, hi uint64) error {
	term, err := ms.Term(hi)
	if err != nil {
		return err
	}
	m := mark{hi, term}
	snap := &walpb.Snapshot{Index: new(m.index), Term: new(m.term), ConfState: &raftpb.ConfState{}}
	if err := s.w.SaveSnapshot(snap); err != nil {
		return err
	}
	if err := writeMark(s.dir, m); err != nil {
		return err
	}
	s.mark = m
	if err := ms.Compact(hi); err != nil {
		return err
	}
	if err := s.w.ReleaseLockTo(hi); err != nil {
		return err
	}
	return purge(filepath.Join(s.dir, "wal"))
}

// purge removes the wal files the wal no longer holds a lock on, oldest
// first, stopping at the first locked one (as fileutil.PurgeFile does, but
// at once and without keeping a minimum number of files).
func purge(walDir string) error {
	entries, err := os.ReadDir(walDir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".wal") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	for _, name := range names[:max(len(names)-1, 0)] {
		p := filepath.Join(walDir, name)
		l, err := fileutil.TryLockFile(p, os.O_WRONLY, fileutil.PrivateFileMode)
		if err != nil {
			break // held by the wal: this and every later file are live
		}
		err = os.Remove(p)
		l.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
