package journal

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/spoolhq/spool/mmapio"
	"github.com/spoolhq/spool/stream"
)

// Journal is a segmented, memory-mapped, append-only log of entries with
// contiguous uint64 indexes.
//
// Concurrency: every method is safe for concurrent use. Appends and
// truncations are serialised by one writer lock; payloads are encoded while
// it is held, straight into mapped pages. Reads take no lock: they load an
// immutable segment set and pin the segment they read, so they run
// concurrently with appends, truncations and syncs, and a segment is unmapped
// only after its last pin is released.
//
// A callback passed to Append, AppendSized or AppendBatch runs under the
// writer lock and must not call back into the journal: in normal builds
// such a call deadlocks (the lock is not reentrant) or, for the few methods
// that do not take it, runs where the API forbids it; builds with the
// spooldebug tag panic instead (lockorder.go).
type Journal struct {
	dir  string
	fs   mmapio.FS
	opts Options
	lock io.Closer
	meta *metaStore
	id   uint64 // journal ID: salts every segment

	segs    atomic.Pointer[segmentSet]
	first   atomic.Uint64 // logical first index
	last    atomic.Uint64 // last published index; first-1 when empty
	durable atomic.Uint64 // entries <= durable are durable
	closed  atomic.Bool
	failed  atomic.Pointer[error] // sticky write/sync failure

	liveSegments atomic.Int64 // mapped segments, including released-but-pinned

	// Sync rounds msync the active segment outside the writer lock, so
	// an append can write into the last page a round is writing back,
	// and that page reaches the disk with whatever the append had
	// written by then. An aborted append checks these to know whether
	// its zeroing must be synced too (abortOpLocked).
	roundMsyncsStarted atomic.Uint64
	roundMsyncsDone    atomic.Uint64

	// Lock order. A goroutine that holds one of these locks takes only
	// locks that come after it:
	//
	//	mu (the writer lock)
	//	  -> sealOrder           (flushSealsLocked, syncRound, prepareCutLocked)
	//	       -> segment.sealMu (syncDeferredSeal)
	//	  -> segment.sealMu      (writeTrailer, prepareCutLocked)
	//	  -> meta.mu             (clearCleanLocked, closeCleanLocked, cuts, Reset)
	//	  -> spareMaker.mu       (takeSpareLocked, recycleLocked)
	//	       -> segment.loadMu (recycleLocked)
	//	  -> syncMu              (fail -> wakeWaiters)
	//	  -> segment.loadMu      (evictLocked: the LRU evicts under the writer lock)
	//	  -> segment.fill.mu     (claimWindow: a writer that overtook the prefill)
	//	bound.evictMu            (afterLoad, lru.go: with no lock held, or under
	//	                          mu when a truncation loads a segment; under it
	//	                          mu is only tried, never waited for)
	//	  -> segment.loadMu
	//
	// syncMu, segment.loadMu and segment.fill.mu are leaves: fail takes
	// syncMu under any of the others, an unpin that drops the last pin
	// takes loadMu wherever it runs, and the prefaulter takes fill.mu with
	// no lock held. mu is taken with no other held; waitDurable releases
	// syncMu before its round takes mu. Under spooldebug every one of
	// these locks checks the order (ranks in lockorder.go: mu, sealOrder,
	// segment.sealMu, meta.mu, spareMaker.mu, segment.loadMu, syncMu,
	// segment.fill.mu, a total order consistent with the tree above); two
	// locks of the same rank (two segments' loadMu) are never held
	// together.
	mu           orderedMutex // the writer lock: guards the fields below and segment appender state
	active       *segment     // segment taking appends; nil until the next append creates one
	nextSegID    uint64
	cleanPending bool // the meta clean record must be cleared before the next mutation
	w            stream.Writer
	sink         appendSink
	op           opState    // rollback point of the append or batch in progress
	pendingSeals []*segment // sealed segments whose trailers are not yet synced (pinned)
	// cuts counts truncations at the back (TruncateBack, Reset, rolled-back
	// rolls): a sync round that overlaps one must not raise the watermark,
	// because the indexes it synced may have been reused by new entries.
	cuts uint64

	// sealOrder is held by whoever writes deferred seals, so that they
	// reach the disk in segment order: a sync round writes the seals it
	// took outside the writer lock, and a truncation or Close that
	// flushes later seals meanwhile must wait for it (a later trailer on
	// disk before an earlier one leaves, after a crash, an unsealed
	// segment between sealed ones). Lock order: mu, then sealOrder.
	sealOrder orderedMutex

	syncMu      orderedMutex // guards the sync round below
	syncRunning bool
	syncDone    chan struct{} // closed when the running round ends

	// The background goroutines (worker.go).
	spareMaker spareMaker
	prefaulter prefaulter
	committer  committer
	// bound caps the mapped sealed segments and releases retired
	// segments' pages (lru.go); its goroutine runs while the journal is
	// open.
	bound bounder
	// reaper tears down the segments cuts remove (reap.go); its goroutine
	// starts with the first segment it is handed.
	reaper reaper

	viewPool sync.Pool
}

// Open opens the journal in dir, creating it if the directory is missing or
// empty (unless opts.NoCreate), and recovers it. A directory that holds
// other files but no journal (no META, no segment file) is refused with an
// error wrapping ErrNotEmpty unless opts.AllowNonEmpty is set. A torn,
// unacknowledged tail is trimmed; damage inside the acknowledged range is
// reported as an error wrapping ErrCorrupt that names file, offset and index.
//
// Open holds an exclusive lock on the directory until Close; a second Open of
// the same directory fails with an error wrapping mmapio.ErrLocked.
func Open(dir string, opts *Options) (*Journal, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	j := &Journal{dir: dir, fs: o.FS, opts: o, syncDone: make(chan struct{})}
	j.sink.j = j
	j.initLocks()
	if o.NoCreate {
		if _, err := o.FS.List(dir); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrNotFound, dir, err)
		}
	} else if err := o.FS.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("journal: create %s: %w", dir, err)
	}
	lockPath := filepath.Join(dir, "LOCK")
	lock, err := o.FS.Lock(lockPath)
	if err != nil {
		return nil, fmt.Errorf("journal: lock %s: %w", dir, err)
	}
	j.lock = lock
	if err := j.recover(); err != nil {
		j.releaseAll()
		_ = lock.Close()
		if errors.Is(err, ErrNotEmpty) {
			// Leave no LOCK file in a directory that is not a journal.
			// One that was there already belonged to no journal (there
			// is none here), and this process holds its lock, so no
			// other process is using it.
			_ = o.FS.Remove(lockPath)
		}
		return nil, err
	}
	j.prefaulter.start(j.prefaultLoop)
	j.spareMaker.start(j.spareLoop)
	// Started after recovery: until then loads evict nothing and unpins
	// retire nothing (bounder.wake is nil).
	j.bound.limit = o.MaxOpenSegments
	j.bound.start(j.boundLoop)
	if o.Sync == GroupCommit {
		j.committer.start(j.commitLoop)
	}
	return j, nil
}

// Dir returns the journal's directory.
func (j *Journal) Dir() string { return j.dir }

// FirstIndex returns the index of the first entry. When the journal is empty
// it is the index the next append will get.
func (j *Journal) FirstIndex() uint64 { return j.first.Load() }

// LastIndex returns the index of the last appended entry, FirstIndex()-1 when
// the journal is empty. It only decreases through TruncateBack and Reset.
func (j *Journal) LastIndex() uint64 { return j.last.Load() }

// Durable returns the durability watermark: every entry with an index at or
// below it survives a crash. It is monotonic except that TruncateBack and
// Reset lower it with LastIndex.
func (j *Journal) Durable() uint64 { return j.durable.Load() }

// Err returns the sticky failure that stopped writes to this instance, or nil.
func (j *Journal) Err() error {
	if p := j.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// fail records the first write/sync failure; after it nothing more is
// acknowledged (DESIGN invariant 5).
func (j *Journal) fail(err error) error {
	wrapped := fmt.Errorf("%w: %w", ErrFailed, err)
	if errors.Is(err, ErrFailed) {
		wrapped = err
	}
	j.failed.CompareAndSwap(nil, &wrapped)
	j.wakeWaiters()
	return *j.failed.Load()
}

func (j *Journal) checkWritable() error {
	if j.closed.Load() {
		return ErrClosed
	}
	if p := j.failed.Load(); p != nil {
		return *p
	}
	return nil
}

// Close syncs outstanding appends, records a clean shutdown so that the next
// Open need not scan the active segment, and releases the directory lock.
// Views still pinned keep their segments mapped until released.
func (j *Journal) Close() error {
	j.notFromCallback("Close")
	if !j.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	j.stopBackground()
	j.closeSpare(false)
	j.mu.Lock()
	var err error
	if j.failed.Load() == nil {
		err = j.closeCleanLocked()
	}
	j.mu.Unlock()
	j.wakeWaiters()
	j.releaseAll()
	if cerr := j.meta.close(); err == nil {
		err = cerr
	}
	if cerr := j.lock.Close(); err == nil && cerr != nil {
		err = cerr
	}
	return err
}

// stopBackground stops the committer, the prefaulter, the spare maker and
// the bounder; when it returns none of them runs. None waits for another, so the order
// does not matter. Called once, by Close or crashClose.
func (j *Journal) stopBackground() {
	j.committer.stop()
	j.prefaulter.stop()
	j.spareMaker.stop()
	j.bound.stop()
	// Last: the reaper tears down whatever it was handed before it
	// returns, and nothing above hands it more.
	j.reaper.stop()
}

// closeCleanLocked syncs the active segment and writes the clean record.
func (j *Journal) closeCleanLocked() error {
	if err := j.flushSealsLocked(); err != nil {
		return err
	}
	s := j.active
	if s == nil {
		return nil
	}
	if err := s.mm.Sync(0, int(s.size)); err != nil {
		return j.fail(fmt.Errorf("sync %s: %w", s.path, err))
	}
	j.meta.mu.Lock()
	defer j.meta.mu.Unlock()
	st := j.meta.state
	st.clean = segRecord{segID: s.id, dataEnd: s.writeOff, count: s.count.Load(), last: j.last.Load()}
	return j.meta.writeLocked(j.withIDHigh(st), true)
}

// releaseAll drops the set's reference to every segment.
func (j *Journal) releaseAll() {
	for _, s := range j.pendingSeals {
		s.unpin()
	}
	j.pendingSeals = nil
	if ss := j.segs.Swap(&segmentSet{}); ss != nil {
		for _, s := range ss.segs {
			s.unpin()
		}
	}
	j.active = nil
}

func (m *metaStore) close() error {
	if m == nil || m.file == nil {
		return nil
	}
	return m.file.Close()
}

func randomID() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("journal: crypto/rand: " + err.Error())
	}
	id := binary.LittleEndian.Uint64(b[:])
	if id == 0 {
		id = 1
	}
	return id
}

// Meta returns a copy of the value stored under key in the meta store.
func (j *Journal) Meta(key string) ([]byte, bool) { return j.meta.get(key) }

// SetMeta durably stores value under key in the meta store (a nil value
// deletes the key). Keys are 1 to 255 bytes; all keys and values together
// must fit in MaxMetaSize.
func (j *Journal) SetMeta(key string, value []byte) error {
	return j.UpdateMeta(true, MetaUpdate{Key: key, Value: value})
}

// UpdateMeta applies updates atomically: after a crash either all or none of
// them are visible. With durable false the write is not synced (it becomes
// durable with the next meta write that is, or may be lost in a crash); a
// write after a lazy one syncs it first, so that the two slots never both
// hold unsynced states.
func (j *Journal) UpdateMeta(durable bool, updates ...MetaUpdate) error {
	j.notFromCallback("UpdateMeta")
	if err := j.checkWritable(); err != nil {
		return err
	}
	m := j.meta
	m.mu.Lock()
	defer m.mu.Unlock()
	kv, err := withKV(m.state.kv, updates)
	if err != nil {
		return err
	}
	st := m.state
	st.kv = kv
	if err := m.writeLocked(st, durable); err != nil {
		return j.fail(err)
	}
	return nil
}

// WaitDurable blocks until entry idx is durable, the context ends, or the
// journal fails. It issues a sync if none is running.
func (j *Journal) WaitDurable(ctx context.Context, idx uint64) error {
	j.notFromCallback("WaitDurable")
	return j.waitDurable(ctx, idx)
}

// Sync makes every appended entry durable.
func (j *Journal) Sync() error {
	j.notFromCallback("Sync")
	return j.waitDurable(context.Background(), j.last.Load())
}

// withIDHigh records in st that no segment ID at or above j.nextSegID has
// been used, so that a reopened journal never reuses the ID of a deleted
// segment (which a cut or clean record could still name). The caller holds
// the writer lock.
func (j *Journal) withIDHigh(st metaState) metaState {
	st.idHigh = max(st.idHigh, j.nextSegID)
	return st
}
