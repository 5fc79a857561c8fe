package hashicorp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/raftadapter/internal/adapteropts"
	"github.com/spoolhq/spool/stream"
)

// Compile-time checks of the interfaces the Store and SnapshotStore
// implement.
var (
	_ raft.LogStore               = (*Store)(nil)
	_ raft.MonotonicLogStore      = (*Store)(nil)
	_ raft.CommitTrackingLogStore = (*Store)(nil)
	_ raft.StableStore            = (*Store)(nil)
	_ raft.SnapshotStore          = (*SnapshotStore)(nil)
)

// Defaults.
const (
	// DefaultSnapshotRetain is the number of snapshots kept when
	// Options.SnapshotRetain is 0.
	DefaultSnapshotRetain = 2
	// SnapshotDirName is the directory, inside the Store's directory,
	// that holds its snapshots.
	SnapshotDirName = "snapshots"
)

// Meta store keys (see the package doc).
const (
	keyFormat       = "hc/v"  // uvarint store format version
	keyStablePrefix = "hc/s/" // StableStore keys
	// storeVersion is the newest store format this build reads: 1 keeps
	// every StableStore key in the meta store, 2 may keep some in the
	// stable file. A store is created at 1 and moves to 2 when the stable
	// file is first created, so an older build, which would not see the
	// keys in it, refuses the store (journal.ErrVersion) from then on.
	storeVersion      = 2
	storeVersionFirst = 1

	// MaxStableKeySize is the longest StableStore key the Store accepts.
	MaxStableKeySize = 255 - len(keyStablePrefix)
)

// Errors. Methods also return errors wrapping the journal's sentinels
// (journal.ErrCorrupt, journal.ErrFailed, journal.ErrClosed, ...), and
// raft.ErrLogNotFound unwrapped.
var (
	// ErrNonMonotonic reports a StoreLogs call whose entries do not
	// continue the log (or each other) index by index. raft never makes
	// one; the log is left unchanged.
	ErrNonMonotonic = errors.New("hashicorp: non-monotonic log entries")
	// ErrMiddleRange reports a DeleteRange that is neither a prefix nor a
	// suffix of the log; raft never asks for one.
	ErrMiddleRange = errors.New("hashicorp: only suffix or prefix ranges may be deleted from log")
	// ErrForeignJournal reports a directory holding a spool journal that
	// this package did not create (another adapter's, say).
	ErrForeignJournal = fmt.Errorf("hashicorp: %w: not a raftadapter/hashicorp store", journal.ErrForeign)
	// ErrInvalidArgument reports an argument or option out of its
	// documented range: a StableStore key of the wrong length, a nil
	// log, a negative retain count, an unsupported snapshot version, a
	// write to a closed snapshot sink.
	ErrInvalidArgument = errors.New("hashicorp: invalid argument")
	// ErrNotUint64 reports a GetUint64 of a key that holds a value other
	// than the 8 bytes SetUint64 stores.
	ErrNotUint64 = errors.New("hashicorp: stable value is not a uint64")
)

// Options configure Open. The zero value (or nil) is the production
// setting: durable writes, 64 MiB segments, two snapshots kept.
type Options struct {
	// JournalOptions configures the journal and the files beside it
	// (FS, SegmentSize, MaxEntrySize, NoSync), fields promoted
	// (opts.SegmentSize). With NoSync, StoreLogs returns once the
	// entries are readable, without waiting for them to be durable.
	JournalOptions
	// SnapshotRetain is how many snapshots Snapshots() keeps (and List
	// returns); 0 means DefaultSnapshotRetain.
	SnapshotRetain int
	// Logger receives the snapshot store's warnings (a corrupt snapshot
	// set aside, say); nil discards them.
	Logger hclog.Logger
	// MaxStableValueSize bounds one StableStore value, 1 byte to 1 GiB;
	// 0 means DefaultMaxStableValueSize (1 MiB). A longer value is
	// refused with a *StableLimitError wrapping ErrStableValueTooLarge.
	MaxStableValueSize int
	// MaxStableSize bounds the StableStore keys kept in the stable file
	// (every key but raft's own): the sum of their key and value lengths
	// plus StableRecordOverhead each, rounded up to 8 bytes; 0 means
	// DefaultMaxStableSize (64 MiB). A Set past it is refused with a
	// *StableLimitError wrapping ErrStableFull. The file on disk is at
	// most about twice as large (dead records are compacted away once
	// they outweigh live ones).
	MaxStableSize int64
}

// JournalOptions are the options both Raft adapters share, embedded in
// Options: FS (every file operation, snapshots and the StableStore file
// included; nil means mmapio.OS), SegmentSize, MaxEntrySize and NoSync.
// Each field is documented on its declaration, in
// raftadapter/internal/adapteropts (go doc
// github.com/spoolhq/spool/raftadapter/internal/adapteropts.Journal).
type JournalOptions = adapteropts.Journal

// Store is a raft.LogStore (monotonic, commit-tracking) and raft.StableStore
// kept in a spool journal, with a raft.SnapshotStore beside it
// (Snapshots). Pass it as both the LogStore and the StableStore of
// raft.NewRaft.
//
// Every method is safe for concurrent use. Reads (GetLog, FirstIndex,
// LastIndex, Get, GetUint64) take no lock and never wait for a write or a
// sync; writes (StoreLogs, DeleteRange) are serialised with each other,
// but a StoreLogs waits for its sync after releasing the write lock.
type Store struct {
	j    *journal.Journal
	dir  string
	opts Options

	wmu     sync.Mutex // serialises StoreLogs and DeleteRange
	enc     entryEncoder
	batch   []*raft.Log // StoreLogs' entries, for batchFn
	batchFn func(b *journal.Batch) error

	staged atomic.Uint64 // commit index staged for the next StoreLogs
	closed atomic.Bool

	stable *stableFile // StableStore keys outside the meta store
	format uint64      // store format version recorded in the meta store

	snaps *SnapshotStore
}

// Open opens the store in dir, creating it if needed: the log and the
// StableStore keys in a spool journal in dir, snapshots in
// dir/snapshots. opts may be nil. Close it after raft has shut down.
//
// Open holds an exclusive lock on dir until Close. It never reads the log
// entries: its cost does not grow with the log.
func Open(dir string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.SnapshotRetain == 0 {
		o.SnapshotRetain = DefaultSnapshotRetain
	}
	if o.SnapshotRetain < 0 {
		return nil, fmt.Errorf("%w: SnapshotRetain %d < 0", ErrInvalidArgument, o.SnapshotRetain)
	}
	if o.MaxStableValueSize == 0 {
		o.MaxStableValueSize = DefaultMaxStableValueSize
	}
	if o.MaxStableValueSize < 0 || o.MaxStableValueSize > maxRecValue {
		return nil, fmt.Errorf("%w: MaxStableValueSize %d not in [1, %d]", ErrInvalidArgument, o.MaxStableValueSize, maxRecValue)
	}
	if o.MaxStableSize == 0 {
		o.MaxStableSize = DefaultMaxStableSize
	}
	if o.MaxStableSize < 0 {
		return nil, fmt.Errorf("%w: MaxStableSize %d < 0", ErrInvalidArgument, o.MaxStableSize)
	}
	o.FS = adapteropts.FS(o.JournalOptions)
	j, err := adapteropts.OpenJournal(dir, o.JournalOptions) // StoreLogs waits for its own sync
	if err != nil {
		return nil, err
	}
	s := &Store{j: j, dir: dir, opts: o}
	s.enc.fn = s.enc.write
	s.batchFn = s.appendBatch
	if err := s.checkFormat(); err != nil {
		_ = j.Close()
		return nil, err
	}
	if err := s.openStable(); err != nil {
		_ = j.Close()
		return nil, err
	}
	s.snaps, err = newSnapshotStore(o.FS, filepath.Join(dir, SnapshotDirName), o.SnapshotRetain, o.Logger)
	if err != nil {
		_ = s.stable.close()
		_ = j.Close()
		return nil, err
	}
	return s, nil
}

// checkFormat records the store format in a new journal, and refuses a
// journal some other code wrote.
func (s *Store) checkFormat() error {
	v, ok := s.j.Meta(keyFormat)
	if ok {
		ver, n := binary.Uvarint(v)
		switch {
		case n <= 0:
			return fmt.Errorf("hashicorp: %s: %w: bad format record", s.dir, journal.ErrCorrupt)
		case ver > storeVersion:
			return fmt.Errorf("hashicorp: %s: %w: store format %d, this build reads up to %d", s.dir, journal.ErrVersion, ver, storeVersion)
		}
		s.format = ver
		return nil
	}
	if s.j.LastIndex() >= s.j.FirstIndex() || s.j.FirstIndex() != 1 {
		return fmt.Errorf("%w: %s has log entries but no format record", ErrForeignJournal, s.dir)
	}
	s.format = storeVersionFirst
	return s.j.SetMeta(keyFormat, binary.AppendUvarint(nil, storeVersionFirst))
}

// Close closes the log (recording a clean shutdown, so that the next Open
// reads no entry). Shut raft down first. A second Close returns an error
// wrapping journal.ErrClosed, as a journal's does (and the etcd
// adapter's): a shutdown path that runs twice is a bug worth seeing.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return adapteropts.SecondCloseError("hashicorp")
	}
	return errors.Join(s.stable.close(), s.j.Close())
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Snapshots returns the raft.SnapshotStore kept in dir/snapshots.
func (s *Store) Snapshots() *SnapshotStore { return s.snaps }

// IsMonotonic implements raft.MonotonicLogStore: it reports true, so raft
// removes every entry after restoring a snapshot rather than leaving a gap
// in the index sequence (which StoreLogs refuses).
func (s *Store) IsMonotonic() bool { return true }

// FirstIndex implements raft.LogStore: the index of the first entry, or 0
// when the log is empty.
func (s *Store) FirstIndex() (uint64, error) {
	if s.closed.Load() {
		return 0, journal.ErrClosed
	}
	first, last := s.bounds()
	if last < first {
		return 0, nil
	}
	return first, nil
}

// LastIndex implements raft.LogStore: the index of the last entry, or 0
// when the log is empty.
func (s *Store) LastIndex() (uint64, error) {
	if s.closed.Load() {
		return 0, journal.ErrClosed
	}
	first, last := s.bounds()
	if last < first {
		return 0, nil
	}
	return last, nil
}

// bounds returns the journal's first and last index as seen at one
// moment between appends and truncations (last < first: empty).
func (s *Store) bounds() (first, last uint64) {
	for {
		last = s.j.LastIndex()
		first = s.j.FirstIndex()
		if s.j.LastIndex() == last {
			return first, last
		}
	}
}

// GetLog implements raft.LogStore. It fills log with entry index, whose Data
// and Extensions are new memory that the caller owns (raft keeps them):
// one allocation holds both (for an entry that lies in one journal
// segment, GetLog makes no other); empty ones are nil. AppendedAt comes back in
// the local time zone, without a monotonic clock reading.
//
// An index outside the log returns raft.ErrLogNotFound itself (raft
// compares with ==), also when a concurrent DeleteRange removes it. GetLog
// runs concurrently with StoreLogs and DeleteRange and never waits for
// them.
func (s *Store) GetLog(index uint64, log *raft.Log) error {
	if s.closed.Load() {
		return journal.ErrClosed
	}
	// Answer a miss without building the journal's error (which
	// allocates); a race with a truncation is caught by Read below.
	if first, last := s.bounds(); index < first || index > last || index == 0 {
		return raft.ErrLogNotFound
	}
	err := s.j.Read(index, func(r *stream.Reader) error {
		return decodeEntry(index, r, log)
	})
	if err != nil {
		if errors.Is(err, journal.ErrOutOfRange) {
			return raft.ErrLogNotFound
		}
		return err
	}
	return nil
}

// StoreLog implements raft.LogStore; see StoreLogs.
func (s *Store) StoreLog(log *raft.Log) error {
	one := [1]*raft.Log{log}
	return s.StoreLogs(one[:])
}

// StoreLogs implements raft.LogStore. The entries must have consecutive
// indexes continuing the log (LastIndex()+1 onwards); on an empty log
// (new, or emptied by DeleteRange) any first index is accepted, and the log
// restarts there. Each entry is streamed into the journal's mapped pages
// with no intermediate buffer, in one journal batch that readers see all
// at once, and made durable with one sync before StoreLogs returns (unless
// Options.NoSync). A crash before StoreLogs returns may leave a prefix of
// the batch (none, some or all of it; never a gap): those entries were not
// acknowledged, and raft treats them as any unacknowledged entry, keeping
// or overwriting them by log matching. A commit index staged with
// StageCommitIndex is recorded in every entry of the batch.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	if s.closed.Load() {
		return journal.ErrClosed
	}
	for i, l := range logs {
		if l == nil {
			return fmt.Errorf("%w: StoreLogs: nil log at position %d", ErrInvalidArgument, i)
		}
		if i > 0 && l.Index != logs[i-1].Index+1 {
			return fmt.Errorf("%w: index %d follows %d in one batch", ErrNonMonotonic, l.Index, logs[i-1].Index)
		}
	}
	if logs[0].Index == 0 {
		return fmt.Errorf("%w: index 0", ErrNonMonotonic)
	}
	s.wmu.Lock()
	first, last := s.j.FirstIndex(), s.j.LastIndex()
	if last < first {
		if logs[0].Index != first {
			// raft restarts an emptied log wherever it needs (after a
			// snapshot is installed or restored): move the empty journal.
			if err := s.j.Reset(logs[0].Index); err != nil {
				s.wmu.Unlock()
				return err
			}
		}
	} else if logs[0].Index != last+1 {
		s.wmu.Unlock()
		return fmt.Errorf("%w: tried to append index %d after %d", ErrNonMonotonic, logs[0].Index, last)
	}
	s.enc.commit = s.staged.Load()
	s.batch = logs
	_, end, err := s.j.AppendBatch(s.batchFn)
	s.batch, s.enc.log = nil, nil
	s.wmu.Unlock()
	if err != nil {
		return err
	}
	if s.opts.NoSync {
		return nil
	}
	return s.j.WaitDurable(context.Background(), end)
}

func (s *Store) appendBatch(b *journal.Batch) error {
	for _, l := range s.batch {
		s.enc.log = l
		if _, err := b.Append(s.enc.fn); err != nil {
			return fmt.Errorf("hashicorp: store log %d: %w", l.Index, err)
		}
	}
	return nil
}

// DeleteRange implements raft.LogStore: it deletes entries min to max
// inclusive, which must be a prefix of the log (compaction) or a suffix
// (removing a conflicting tail); any other range returns ErrMiddleRange.
// Deleting the whole log leaves it empty, and the next StoreLogs may start
// at any index. Both kinds are durable when DeleteRange returns, and a
// crash at any point leaves either the old log or the new one. A range
// outside the log, or with min > max, is a no-op.
//
// Readers are not blocked: a GetLog that races the deletion either returns
// the entry (its bytes stay mapped until it is copied) or
// raft.ErrLogNotFound.
func (s *Store) DeleteRange(min, max uint64) error {
	if s.closed.Load() {
		return journal.ErrClosed
	}
	if min > max {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	first, last := s.j.FirstIndex(), s.j.LastIndex()
	switch {
	case last < first || max < first || min > last:
		return nil // nothing of the range exists
	case min <= first:
		// A prefix, possibly the whole log. (max+1 could overflow.)
		return s.j.TruncateFront(minU(max, last) + 1)
	case max >= last:
		return s.j.TruncateBack(min - 1)
	default:
		return fmt.Errorf("%w: [%d, %d] inside [%d, %d]", ErrMiddleRange, min, max, first, last)
	}
}

func minU(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return b
}

// StageCommitIndex implements raft.CommitTrackingLogStore: idx is recorded
// in every entry of the next StoreLogs call, so it becomes durable with
// them and never separately. It does no I/O.
func (s *Store) StageCommitIndex(idx uint64) error {
	s.staged.Store(idx)
	return nil
}

// GetCommitIndex implements raft.CommitTrackingLogStore: the commit index
// recorded in the last entry of the log, at most LastIndex(); 0 when the
// log is empty or its last entry records none.
func (s *Store) GetCommitIndex() (uint64, error) {
	if s.closed.Load() {
		return 0, journal.ErrClosed
	}
	for {
		first, last := s.bounds()
		if last < first {
			return 0, nil
		}
		var commit uint64
		err := s.j.Read(last, func(r *stream.Reader) error {
			var err error
			_, _, _, _, commit, err = decodeHeader(r)
			if err != nil {
				return fmt.Errorf("%w: entry %d: %w", ErrEntryFormat, last, err)
			}
			return nil
		})
		if errors.Is(err, journal.ErrOutOfRange) {
			continue // truncated meanwhile
		}
		if err != nil {
			return 0, err
		}
		return minU(commit, last), nil
	}
}

// Set implements raft.StableStore. The key and value are durable when Set
// returns, and a crash before then leaves the old value or the new one.
// Keys are 1 to MaxStableKeySize bytes, values up to
// Options.MaxStableValueSize (1 MiB by default); a nil value is stored as
// an empty one.
//
// raft's own keys (CurrentTerm, LastVoteTerm, LastVoteCand) are kept in the
// journal's meta store: one meta write and sync, as before there was a
// stable file. Every other key, and a raft key with a value over 1 KiB,
// goes to the stable file (see the package doc): one write and one
// fdatasync, except when the Set rewrites the file (dead records
// outweighing live ones, and the very first Set of such a key), which
// adds a directory fsync. Past Options.MaxStableSize, Set returns a
// *StableLimitError wrapping ErrStableFull.
func (s *Store) Set(key, val []byte) error {
	k, err := stableKey(key)
	if err != nil {
		return err
	}
	if val == nil {
		val = []byte{}
	}
	if s.closed.Load() {
		return journal.ErrClosed
	}
	if len(val) > s.opts.MaxStableValueSize {
		return &StableLimitError{Key: string(key), Size: int64(len(val)), Limit: int64(s.opts.MaxStableValueSize), Err: ErrStableValueTooLarge}
	}
	if isRaftKey(key) {
		return s.setRaftKey(k, key, val)
	}
	return s.setFileKey(k, key, val)
}

// Get implements raft.StableStore. It returns a copy of the value, or
// (nil, nil) for a key never set: the raft-wal convention, which raft
// treats as "not found" (raft-boltdb returns an error reading "not found"
// instead; raft accepts both). A value read from the stable file is
// checked against its checksum; damage is an error wrapping
// journal.ErrCorrupt.
func (s *Store) Get(key []byte) ([]byte, error) {
	if len(key) == 0 || len(key) > MaxStableKeySize {
		_, err := stableKey(key)
		return nil, err
	}
	if s.closed.Load() {
		return nil, journal.ErrClosed
	}
	if isRaftKey(key) {
		// The meta store's copy wins (see setRaftKey).
		if v, ok := s.j.Meta(keyStablePrefix + string(key)); ok {
			return v, nil
		}
		v, _, err := s.stable.get(key)
		return v, err
	}
	v, ok, err := s.stable.get(key)
	if ok || err != nil {
		return v, err
	}
	// A copy an older version kept in the meta store.
	if v, ok := s.j.Meta(keyStablePrefix + string(key)); ok {
		return v, nil
	}
	return nil, nil
}

// SetUint64 implements raft.StableStore: val is stored as 8 bytes, little
// endian, under key (the same key space as Set). Durable on return.
func (s *Store) SetUint64(key []byte, val uint64) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], val)
	return s.Set(key, b[:])
}

// GetUint64 implements raft.StableStore: 0 with a nil error for a key never
// set; an error if the key holds a value that is not 8 bytes.
func (s *Store) GetUint64(key []byte) (uint64, error) {
	v, err := s.Get(key)
	if err != nil || v == nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("%w: GetUint64(%q): value of %d bytes", ErrNotUint64, key, len(v))
	}
	return binary.LittleEndian.Uint64(v), nil
}

func stableKey(key []byte) (string, error) {
	if len(key) == 0 || len(key) > MaxStableKeySize {
		return "", fmt.Errorf("%w: stable key length %d not in [1, %d]", ErrInvalidArgument, len(key), MaxStableKeySize)
	}
	return keyStablePrefix + string(key), nil
}
