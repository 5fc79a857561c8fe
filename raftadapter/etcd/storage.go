package etcd

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/mmapio"
	"github.com/spoolhq/spool/raftadapter/internal/adapteropts"
	"github.com/spoolhq/spool/stream"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Options configure Open. The zero value is usable.
type Options struct {
	// JournalOptions configures the journal and the snapshot data files
	// beside it (FS, SegmentSize, MaxEntrySize, NoSync), fields promoted
	// (opts.SegmentSize). NoSync disables every sync the Storage would
	// issue.
	JournalOptions
	// ZeroCopy makes Entries (raft's own calls included) return entries
	// whose Data points into the journal's mapped pages, each pinned until
	// it is passed to Release, ReleaseMessage, or written by a
	// etcdwire.Writer. See "Zero-copy entries" in the package doc for the
	// rules; the default, false, returns heap copies that raft and the
	// application may keep for as long as they like.
	ZeroCopy bool
	// SnapshotData, if set, supplies the Data of the snapshot that
	// Snapshot returns, given its metadata, and the Storage stores no
	// snapshot data itself: CreateSnapshot and ApplySnapshot record only
	// the metadata. Use it when the application persists its state machine
	// on its own. Returning raft.ErrSnapshotTemporarilyUnavailable makes
	// Snapshot return that error, unwrapped, so raft retries later.
	SnapshotData func(meta *pb.SnapshotMetadata) ([]byte, error)
}

// JournalOptions are the options both Raft adapters share, embedded in
// Options: FS (every file operation, snapshot data files included; nil
// means mmapio.OS), SegmentSize, MaxEntrySize and NoSync. Each field is
// documented on its declaration, in raftadapter/internal/adapteropts (go
// doc github.com/spoolhq/spool/raftadapter/internal/adapteropts.Journal).
type JournalOptions = adapteropts.Journal

// Storage is a raft.Storage kept in a spool journal: entries live in the
// journal's memory-mapped segments (journal index = raft index), the
// HardState, the compaction point and the snapshot metadata in its meta
// store, and snapshot data, when the Storage keeps it, in a file beside the
// journal. Nothing holds a copy of the log in memory.
//
// Every method is safe for concurrent use. Writes (Save, SaveReady,
// HandleStorageAppend, Append, SetHardState, CreateSnapshot, Compact,
// ApplySnapshot) are serialised; reads run concurrently with them and see
// either the state before a write's truncation or the state after it.
type Storage struct {
	j    *journal.Journal
	dir  string
	fs   mmapio.FS
	opts Options

	// mu orders structural changes (truncations, compaction, snapshot
	// installation) against readers: readers hold it shared, and a change
	// that would make a reader see an inconsistent log holds it exclusive.
	mu   sync.RWMutex
	base logPoint // entry FirstIndex()-1: compaction or snapshot point
	snap snapRecord
	hs   hardState

	wmu sync.Mutex // serialises writers
	enc entryEncoder
	// hsDirty: hs holds a commit index other than the recorded one (a
	// commit-only change is not written until Sync, Close or the next
	// meta write). Guarded by wmu.
	hsDirty bool
	// firstSave: the etcd/first record is present (a first Save has
	// appended entries and not yet recorded its HardState). Guarded by
	// wmu.
	firstSave bool

	snapMu sync.Mutex // serialises snapshot data file reads and replacement

	terms termCache
	pins  pinTable

	closed atomic.Bool
}

// logPoint is the (index, term) of the entry before FirstIndex, and how it
// came to be: compaction (entries below were discarded, entries from
// index+1 kept) or reset (a snapshot replaced the whole log).
type logPoint struct {
	index, term uint64
	kind        byte
}

const (
	pointCompact = 1
	pointReset   = 2
)

type hardState struct {
	term, vote, commit uint64
	set                bool
}

func (h hardState) proto() *pb.HardState {
	if !h.set {
		return nil
	}
	return &pb.HardState{Term: new(h.term), Vote: new(h.vote), Commit: new(h.commit)}
}

// Open opens the raft storage in dir, creating it if needed, and recovers
// it: an interrupted compaction or snapshot installation is completed,
// stray snapshot files are removed, and the entries of an interrupted
// first Save (see Save: entries, but its HardState never recorded) are
// discarded, leaving the Storage Empty, so that a node whose bootstrap a
// crash cut short bootstraps again. Entries written otherwise (Append, a
// Save without a HardState) are kept, HardState or not. The recorded
// commit index is held within the log a crash left (see "Durability" in
// the package doc). Open costs what journal.Open costs (a directory
// listing, the meta file and the last segment after a clean shutdown) and
// reads no entry.
func Open(dir string, opts *Options) (*Storage, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.FS = adapteropts.FS(o.JournalOptions)
	j, err := adapteropts.OpenJournal(dir, o.JournalOptions)
	if err != nil {
		return nil, err
	}
	s := &Storage{j: j, dir: dir, fs: o.FS, opts: o}
	s.enc.s = s
	s.enc.fn = s.enc.write
	s.pins.init()
	if err := s.recover(); err != nil {
		_ = j.Close()
		return nil, err
	}
	return s, nil
}

// recover loads the meta records and reconciles the journal with them.
func (s *Storage) recover() error {
	var err error
	if s.hs, err = loadHardState(s.j); err != nil {
		return err
	}
	if s.snap, err = loadSnapRecord(s.j); err != nil {
		return err
	}
	base, ok, err := loadLogPoint(s.j)
	if err != nil {
		return err
	}
	first := s.j.FirstIndex()
	if !ok {
		// Never compacted nor reset: the log starts at 1. A snapshot
		// record may exist (CreateSnapshot without Compact).
		if first != 1 {
			return fmt.Errorf("%w: %s: journal starts at %d but has no raft compaction record", journal.ErrCorrupt, s.dir, first)
		}
		base = logPoint{kind: pointCompact}
	}
	switch {
	case first == base.index+1:
	case first > base.index+1:
		return fmt.Errorf("%w: %s: journal starts at %d, after the compaction point %d", journal.ErrCorrupt, s.dir, first, base.index)
	case base.kind == pointReset || s.j.LastIndex() < base.index:
		// A snapshot installation was interrupted after its meta record.
		if err := s.j.Reset(base.index + 1); err != nil {
			return err
		}
	default:
		// A compaction was interrupted after its meta record.
		if err := s.j.TruncateFront(base.index + 1); err != nil {
			return err
		}
	}
	s.base = base
	pending, err := loadFirstSave(s.j)
	if err != nil {
		return err
	}
	if pending {
		if !s.hs.set && s.snap.cs == nil && base.index == 0 && s.j.LastIndex() > 0 {
			// A first Save (a bootstrap, or a new member's first
			// append) was interrupted between its entries and its
			// HardState. Nothing of it was acknowledged; keeping it would
			// leave a log raft cannot use (a bootstrap's configuration
			// uncommitted, StartNode refused on a non-empty log). Discard
			// it: the Storage is Empty again.
			if err := s.j.Reset(1); err != nil {
				return err
			}
		}
		// The record goes after the entries: a crash in between repeats
		// this at the next Open.
		if err := s.j.UpdateMeta(!s.opts.NoSync, journal.MetaUpdate{Key: keyFirstSave}); err != nil {
			return err
		}
	}
	// The commit index must lie in [base, last] or raft refuses to start.
	// A recorded one past the log (its entries were not yet durable at the
	// crash) is held to the log's end: the entries kept up to there are
	// the ones raft had committed.
	if s.hs.set {
		s.hs.commit = max(min(s.hs.commit, s.j.LastIndex()), base.index)
	}
	return s.cleanSnapshotFiles()
}

// Close records the latest commit index (see Save), after the entries,
// and closes the journal. Entries pinned by zero-copy reads stay valid
// until released. A second Close returns an error wrapping
// journal.ErrClosed, as a journal's does (and the hashicorp adapter's).
func (s *Storage) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return adapteropts.SecondCloseError("etcd")
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var err error
	if s.hsDirty {
		if err = s.j.Sync(); err == nil {
			err = s.recordCommitLocked(!s.opts.NoSync)
		}
	}
	return errors.Join(err, s.j.Close())
}

// Empty reports whether the Storage holds no raft state at all (no
// HardState, entry or snapshot): a new node, to be started with
// raft.StartNode rather than raft.RestartNode.
func (s *Storage) Empty() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return !s.hs.set && s.base.index == 0 && s.snap.cs == nil && s.j.LastIndex() == 0
}

// Dir returns the Storage's directory.
func (s *Storage) Dir() string { return s.dir }

// Journal returns the underlying journal, for inspection (Durable,
// segment statistics). Writing to it directly breaks the Storage.
func (s *Storage) Journal() *journal.Journal { return s.j }

// InitialState implements raft.Storage: the saved HardState (nil if none
// was saved) and the ConfState of the latest snapshot.
func (s *Storage) InitialState() (*pb.HardState, *pb.ConfState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	cs := pb.EnsureConfState(s.snap.confState())
	return s.hs.proto(), cs, nil
}

// FirstIndex implements raft.Storage.
func (s *Storage) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.base.index + 1, nil
}

// LastIndex implements raft.Storage.
func (s *Storage) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return max(s.j.LastIndex(), s.base.index), nil
}

// Term implements raft.Storage. Term(FirstIndex()-1) is answered from the
// compaction record; other terms come from the entry header in the mapped
// page (or a small cache of recently appended entries). It returns
// raft.ErrCompacted below FirstIndex()-1 and raft.ErrUnavailable past
// LastIndex(), unwrapped.
func (s *Storage) Term(i uint64) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.termLocked(i)
}

func (s *Storage) termLocked(i uint64) (uint64, error) {
	switch {
	case i < s.base.index:
		return 0, raft.ErrCompacted
	case i == s.base.index:
		return s.base.term, nil
	case i > s.j.LastIndex():
		return 0, raft.ErrUnavailable
	}
	if t, ok := s.terms.get(i); ok {
		return t, nil
	}
	var term uint64
	err := s.j.Read(i, func(r *stream.Reader) error {
		if p := r.Buffered(); len(p) >= maxEntryHeader || int64(len(p)) == r.Remaining() {
			t, _, _, err := parseEntryHeader(p)
			term = t
			return err
		}
		t, _, err := readEntryHeader(r)
		term = t
		return err
	})
	if err != nil {
		return 0, s.readErr(i, err)
	}
	return term, nil
}

// readErr maps a journal read error to raft's sentinels where one applies.
func (s *Storage) readErr(i uint64, err error) error {
	if errors.Is(err, journal.ErrOutOfRange) {
		if i <= s.base.index {
			return raft.ErrCompacted
		}
		return raft.ErrUnavailable
	}
	return fmt.Errorf("etcd: entry %d: %w", i, err)
}

// Entries implements raft.Storage: the entries [lo, hi), at least one if
// any, as many as fit in maxSize bytes of protobuf encoding. It returns
// raft.ErrCompacted if lo < FirstIndex() and raft.ErrUnavailable if hi >
// LastIndex()+1, unwrapped.
//
// Without Options.ZeroCopy the entries and their Data are heap copies the
// caller owns. With it, Data points into mapped pages, pinned until the
// entries are released (see Release).
func (s *Storage) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	if s.opts.ZeroCopy {
		ents, p, err := s.entries(lo, hi, maxSize, true)
		if p != nil {
			s.pins.track(p, ents)
		}
		return ents, err
	}
	ents, _, err := s.entries(lo, hi, maxSize, false)
	return ents, err
}

// EntriesPinned is Entries in zero-copy mode with an explicit lifetime:
// the Data of the returned entries points into mapped pages and stays
// valid until pins.Release, which the caller must call exactly once (a
// nil *Pins, returned when nothing needed pinning, may be released too).
// Entries that span segments are copied and need no pin.
func (s *Storage) EntriesPinned(lo, hi, maxSize uint64) ([]*pb.Entry, *Pins, error) {
	return s.entries(lo, hi, maxSize, true)
}

func (s *Storage) entries(lo, hi, maxSize uint64, zeroCopy bool) ([]*pb.Entry, *Pins, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if lo <= s.base.index {
		return nil, nil, raft.ErrCompacted
	}
	last := s.j.LastIndex()
	if hi > last+1 || lo > hi {
		return nil, nil, raft.ErrUnavailable
	}
	if lo == hi {
		return nil, nil, nil
	}
	if zeroCopy {
		return s.entriesPinned(lo, hi, maxSize)
	}
	return s.entriesCopy(lo, hi, maxSize)
}

func (s *Storage) entriesCopy(lo, hi, maxSize uint64) ([]*pb.Entry, *Pins, error) {
	n := hi - lo
	out := make([]*pb.Entry, 0, min(n, 1024))
	alloc := entryAlloc{remaining: int(min(n, 1<<20))}
	var arena byteArena
	var size uint64
	it := s.j.Iter(lo)
	defer it.Close()
	for idx := lo; idx < hi; idx++ {
		if !it.Next() {
			err := it.Err()
			if err == nil {
				err = journal.ErrOutOfRange
			}
			return nil, nil, s.readErr(idx, err)
		}
		var (
			term  uint64
			flags byte
			data  []byte
			err   error
		)
		if p, ok := it.Bytes(); ok {
			var h int
			if term, flags, h, err = parseEntryHeader(p); err != nil {
				return nil, nil, s.readErr(idx, err)
			}
			size += entryProtoSize(idx, term, flags, len(p)-h)
			if size > maxSize && len(out) > 0 {
				break
			}
			data = arena.alloc(len(p) - h)
			copy(data, p[h:])
		} else {
			r := it.Reader()
			if term, flags, err = readEntryHeader(r); err != nil {
				return nil, nil, s.readErr(idx, err)
			}
			size += entryProtoSize(idx, term, flags, int(r.Remaining()))
			if size > maxSize && len(out) > 0 {
				break
			}
			if data, err = arena.readRest(r); err != nil {
				return nil, nil, s.readErr(idx, err)
			}
		}
		e, sc := alloc.next()
		fill(e, sc, idx, term, flags, data)
		out = append(out, e)
	}
	return out[:len(out):len(out)], nil, nil
}

func (s *Storage) entriesPinned(lo, hi, maxSize uint64) ([]*pb.Entry, *Pins, error) {
	// Phase 1 pins and parses; phase 2 allocates the entries in one chunk,
	// so that a cleanup attached to it fires only once every entry of the
	// call is unreachable.
	recs := getRecs()
	defer putRecs(recs)
	var arena byteArena
	var size uint64
	p := &Pins{s: s}
	fail := func(idx uint64, err error) ([]*pb.Entry, *Pins, error) {
		for _, r := range *recs {
			if r.v != nil {
				r.v.Release()
			}
		}
		return nil, nil, s.readErr(idx, err)
	}
	for idx := lo; idx < hi; idx++ {
		v, err := s.j.Get(idx)
		if err != nil {
			return fail(idx, err)
		}
		rec := pinnedRec{}
		if b, ok := v.Bytes(); ok {
			var h int
			if rec.term, rec.flags, h, err = parseEntryHeader(b); err != nil {
				v.Release()
				return fail(idx, err)
			}
			size += entryProtoSize(idx, rec.term, rec.flags, len(b)-h)
			if size > maxSize && len(*recs) > 0 {
				v.Release()
				break
			}
			if len(b) > h {
				rec.data = b[h:len(b):len(b)]
				rec.v = v
			} else {
				v.Release()
			}
		} else {
			// An entry spanning segments is not contiguous: copy it.
			r := v.Reader()
			if rec.term, rec.flags, err = readEntryHeader(r); err == nil {
				size += entryProtoSize(idx, rec.term, rec.flags, int(r.Remaining()))
				if size > maxSize && len(*recs) > 0 {
					v.Release()
					break
				}
				rec.data, err = arena.readRest(r)
			}
			v.Release()
			if err != nil {
				return fail(idx, err)
			}
		}
		*recs = append(*recs, rec)
	}
	n := len(*recs)
	out := make([]*pb.Entry, n)
	ents := make([]pb.Entry, n)
	sc := make([]entryScalars, n)
	pinned := 0
	for _, r := range *recs {
		if r.v != nil {
			pinned++
		}
	}
	if pinned > 0 {
		p.views = make([]*journal.View, 0, pinned)
		p.pos = make([]int32, 0, pinned)
	}
	for k, r := range *recs {
		fill(&ents[k], &sc[k], lo+uint64(k), r.term, r.flags, r.data)
		out[k] = &ents[k]
		if r.v != nil {
			p.views = append(p.views, r.v)
			p.pos = append(p.pos, int32(k))
		}
	}
	if len(p.views) == 0 {
		return out, nil, nil
	}
	p.live = len(p.views)
	s.pins.pinned.Add(int64(p.live))
	return out, p, nil
}

// Snapshot implements raft.Storage: the latest snapshot, with its data read
// from the snapshot file (or from Options.SnapshotData).
func (s *Storage) Snapshot() (*pb.Snapshot, error) {
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	s.mu.RLock()
	rec := s.snap
	s.mu.RUnlock()
	snap := &pb.Snapshot{Metadata: rec.metadata()}
	snap = pb.EnsureSnapshot(snap)
	if s.opts.SnapshotData != nil {
		if rec.index == 0 {
			return snap, nil
		}
		data, err := s.opts.SnapshotData(proto.CloneOf(snap.Metadata))
		if err != nil {
			if errors.Is(err, raft.ErrSnapshotTemporarilyUnavailable) {
				return nil, raft.ErrSnapshotTemporarilyUnavailable
			}
			return nil, err
		}
		snap.Data = data
		return snap, nil
	}
	data, err := s.readSnapshotData(rec)
	if err != nil {
		return nil, err
	}
	snap.Data = data
	return snap, nil
}
