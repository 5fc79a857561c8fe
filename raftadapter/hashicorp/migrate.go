package hashicorp

import (
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// raft's StableStore keys (unexported in package raft).
var (
	raftUint64Keys = [][]byte{[]byte("CurrentTerm"), []byte("LastVoteTerm")}
	raftBytesKeys  = [][]byte{[]byte("LastVoteCand")}
)

// Migration errors.
var (
	// ErrNotEmpty reports a Migrate destination that holds log entries,
	// stable keys or snapshots.
	ErrNotEmpty = errors.New("hashicorp: Migrate: destination not empty")
	// ErrMigrateSource reports a source store that answers
	// inconsistently (an entry with the wrong index, a snapshot shorter
	// or longer than its metadata says).
	ErrMigrateSource = errors.New("hashicorp: Migrate: inconsistent source")
)

// MigrateSource names the stores of an existing node for Migrate: for
// raft-boltdb, the *raftboltdb.BoltStore as Logs and Stable; for raft-wal,
// the *raftwal.WAL as both; and the node's snapshot store (typically a
// *raft.FileSnapshotStore).
type MigrateSource struct {
	// Logs is the log to copy. Required.
	Logs raft.LogStore
	// Stable is the stable store to copy (often the same value as Logs);
	// nil copies no keys.
	Stable raft.StableStore
	// Snapshots is the snapshot store to copy; nil copies none. The
	// newest snapshots, up to the destination's retain count, are copied
	// (and verified on the way, if the source verifies on Open).
	Snapshots raft.SnapshotStore
	// Uint64Keys are the StableStore keys copied with GetUint64/SetUint64;
	// nil means raft's: CurrentTerm and LastVoteTerm.
	Uint64Keys [][]byte
	// BytesKeys are the StableStore keys copied with Get/Set; nil means
	// raft's: LastVoteCand. (A StableStore cannot be enumerated, so keys
	// an application stores there itself must be listed here.)
	BytesKeys [][]byte
	// BatchSize is the number of entries per StoreLogs call (one sync
	// each); 0 means 1024.
	BatchSize int
}

// MigrateStats reports what Migrate copied.
type MigrateStats struct {
	First, Last uint64 // range of the copied log (0, 0: empty)
	Entries     uint64 // entries copied
	Discarded   uint64 // entries before a gap in the source, not kept
	Bytes       int64  // Data and Extensions bytes copied
	StableKeys  int    // stable store keys copied
	Snapshots   int    // snapshots copied
}

// Migrate copies a node's raft state from other stores (raft-boltdb,
// raft-wal, raft.InmemStore, any raft.LogStore/StableStore/SnapshotStore)
// into dst, which must be empty: no log entries, no stable keys, no
// snapshots. Run it offline, with the node stopped; the procedure is in
// the package doc ("Migrating from raft-boltdb or raft-wal").
//
// The log is copied entry by entry (Index, Term, Type, Data, Extensions,
// AppendedAt), in batches. Raft leaves a gap in a non-monotonic store
// (raft-boltdb) after restoring a user snapshot; the entries before the
// last gap predate the snapshot and are not copied (MigrateStats.Discarded).
// A commit index tracked by the source (raft.CommitTrackingLogStore) is
// carried over. Snapshots get new IDs.
//
// Migrate is not atomic: if it fails, delete dst's directory and run it
// again.
func Migrate(dst *Store, src MigrateSource) (MigrateStats, error) {
	var st MigrateStats
	if src.Logs == nil {
		return st, fmt.Errorf("%w: Migrate: no source log", ErrInvalidArgument)
	}
	if err := dst.checkEmpty(); err != nil {
		return st, err
	}
	batch := src.BatchSize
	if batch <= 0 {
		batch = 1024
	}
	if ct, ok := src.Logs.(raft.CommitTrackingLogStore); ok {
		c, err := ct.GetCommitIndex()
		if err != nil {
			return st, fmt.Errorf("hashicorp: Migrate: source commit index: %w", err)
		}
		_ = dst.StageCommitIndex(c)
	}
	defer dst.StageCommitIndex(0)

	// Snapshots first: if the log copy fails later the whole migration
	// is redone anyway.
	if src.Snapshots != nil {
		n, err := migrateSnapshots(dst.snaps, src.Snapshots)
		st.Snapshots = n
		if err != nil {
			return st, err
		}
	}
	if src.Stable != nil {
		n, err := migrateStable(dst, src)
		st.StableKeys = n
		if err != nil {
			return st, err
		}
	}

	first, err := src.Logs.FirstIndex()
	if err != nil {
		return st, fmt.Errorf("hashicorp: Migrate: source first index: %w", err)
	}
	last, err := src.Logs.LastIndex()
	if err != nil {
		return st, fmt.Errorf("hashicorp: Migrate: source last index: %w", err)
	}
	if first == 0 || last < first {
		return st, nil
	}
	logs := make([]*raft.Log, 0, batch)
	flush := func() error {
		if len(logs) == 0 {
			return nil
		}
		err := dst.StoreLogs(logs)
		logs = logs[:0]
		return err
	}
	for idx := first; idx <= last; idx++ {
		l := new(raft.Log)
		err := src.Logs.GetLog(idx, l)
		if err == raft.ErrLogNotFound {
			// A gap: what came before it predates a restored snapshot.
			if err := flush(); err != nil {
				return st, err
			}
			if n, _ := dst.LastIndex(); n != 0 {
				if err := dst.DeleteRange(0, n); err != nil {
					return st, err
				}
			}
			st.Discarded += st.Entries
			st.Entries, st.Bytes, st.First = 0, 0, 0
			continue
		}
		if err != nil {
			return st, fmt.Errorf("hashicorp: Migrate: source entry %d: %w", idx, err)
		}
		if l.Index != idx {
			return st, fmt.Errorf("%w: entry %d returned for index %d", ErrMigrateSource, l.Index, idx)
		}
		if st.First == 0 {
			st.First = idx
		}
		st.Last = idx
		st.Entries++
		st.Bytes += int64(len(l.Data) + len(l.Extensions))
		logs = append(logs, l)
		if len(logs) == batch {
			if err := flush(); err != nil {
				return st, err
			}
		}
	}
	if err := flush(); err != nil {
		return st, err
	}
	if st.Entries == 0 {
		st.Last = 0
	}
	return st, nil
}

// checkEmpty reports whether the store holds anything.
func (s *Store) checkEmpty() error {
	if last, err := s.LastIndex(); err != nil || last != 0 {
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: %s holds log entries", ErrNotEmpty, s.dir)
	}
	for _, k := range append(append([][]byte{}, raftUint64Keys...), raftBytesKeys...) {
		if v, err := s.Get(k); err != nil || v != nil {
			if err != nil {
				return err
			}
			return fmt.Errorf("%w: %s holds stable key %q", ErrNotEmpty, s.dir, k)
		}
	}
	snaps, err := s.snaps.List()
	if err != nil {
		return err
	}
	if len(snaps) > 0 {
		return fmt.Errorf("%w: %s holds snapshots", ErrNotEmpty, s.dir)
	}
	return nil
}

func isNotFound(err error) bool { return err != nil && err.Error() == "not found" }

func migrateStable(dst *Store, src MigrateSource) (int, error) {
	n := 0
	uk, bk := src.Uint64Keys, src.BytesKeys
	if uk == nil {
		uk = raftUint64Keys
	}
	if bk == nil {
		bk = raftBytesKeys
	}
	for _, k := range uk {
		v, err := src.Stable.GetUint64(k)
		if isNotFound(err) || (err == nil && v == 0) {
			continue // missing (0 reads the same as missing)
		}
		if err != nil {
			return n, fmt.Errorf("hashicorp: Migrate: source key %q: %w", k, err)
		}
		if err := dst.SetUint64(k, v); err != nil {
			return n, err
		}
		n++
	}
	for _, k := range bk {
		v, err := src.Stable.Get(k)
		if isNotFound(err) || (err == nil && v == nil) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("hashicorp: Migrate: source key %q: %w", k, err)
		}
		if err := dst.Set(k, v); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// migrateSnapshots copies the newest snapshots of src, oldest of them
// first, so that dst orders them the same way.
func migrateSnapshots(dst *SnapshotStore, src raft.SnapshotStore) (int, error) {
	metas, err := src.List()
	if err != nil {
		return 0, fmt.Errorf("hashicorp: Migrate: list source snapshots: %w", err)
	}
	if len(metas) > dst.retain {
		metas = metas[:dst.retain]
	}
	n := 0
	for i := len(metas) - 1; i >= 0; i-- {
		if err := copySnapshot(dst, src, metas[i].ID); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func copySnapshot(dst *SnapshotStore, src raft.SnapshotStore, id string) error {
	meta, rc, err := src.Open(id)
	if err != nil {
		return fmt.Errorf("hashicorp: Migrate: open source snapshot %s: %w", id, err)
	}
	defer rc.Close()
	sink, err := dst.create(raft.SnapshotMeta{
		Version:            meta.Version,
		Index:              meta.Index,
		Term:               meta.Term,
		Peers:              meta.Peers,
		Configuration:      meta.Configuration,
		ConfigurationIndex: meta.ConfigurationIndex,
	})
	if err != nil {
		return err
	}
	n, err := io.Copy(sink, rc)
	if err == nil && meta.Size != n {
		err = fmt.Errorf("%w: snapshot %s: read %d bytes, meta says %d", ErrMigrateSource, id, n, meta.Size)
	}
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("hashicorp: Migrate: copy snapshot %s: %w", id, err)
	}
	return sink.Close()
}
