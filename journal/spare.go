package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"

	"github.com/spoolhq/spool/mmapio"
)

// Creating a segment file from nothing (create, reserve the space, map it,
// fault in the head and slot pages) is dominated by the first faults of a
// fresh file, and on the append path it stalled every roll (figures in
// docs/decisions.md, "Spare segment files and cheaper first faults"). A
// spare file is prepared ahead, in the background, once the active segment
// is half full; the roll only writes the header, syncs it, renames the
// file and syncs the directory, exactly the steps and order a roll always
// took, so
// recovery is unchanged: the spare lives under a temporary name until
// then, which Open removes after a crash.
//
// The spare holds no identity (segment ID, base index, salt): those are
// known only at the roll, and they go into the header the roll writes.

// spareName is the temporary name of the n-th spare segment file of this
// instance. It ends in ".seg" + tmpSuffix, which Open removes and Verify
// reports as an interrupted creation. Each spare has its own name: the
// maker may be preparing the next one while a roll renames the last.
func spareName(n uint64) string { return fmt.Sprintf("spare-%d.seg%s", n, tmpSuffix) }

// spareFile is a prepared segment file: created under its temporary name,
// its space reserved and synced, mapped, and its head and slot pages
// faulted in.
type spareFile struct {
	path string
	file mmapio.File
	mm   mmapio.Mapping
	size int64
}

func (sp *spareFile) discard(j *Journal) {
	_ = sp.mm.Unmap()
	_ = sp.file.Close()
	_ = j.fs.Remove(sp.path)
}

// spareWantedLocked asks for a spare once the active segment s is half
// full, unless one was already asked for since the last roll. Called under
// the writer lock.
func (j *Journal) spareWantedLocked(s *segment) {
	m := &j.spareMaker
	if m.asked || s.writeOff < s.size/2 {
		return
	}
	m.asked = true
	switch j.opts.spare {
	case spareInline:
		j.makeSpare()
	case spareBackground:
		select {
		case m.wake <- struct{}{}:
		default:
		}
	}
}

// takeSpareLocked hands the prepared spare, if any and if it has the size
// segments are created with, to a roll. Called under the writer lock.
func (j *Journal) takeSpareLocked() *spareFile {
	m := &j.spareMaker
	m.mu.Lock()
	sp := m.spare
	m.spare = nil
	m.mu.Unlock()
	m.asked = false
	if sp != nil && sp.size != j.opts.SegmentSize {
		sp.discard(j)
		return nil
	}
	return sp
}

// spareLoop is the spare maker's goroutine: until stopped, it prepares a
// spare whenever the writer asks for one.
func (j *Journal) spareLoop(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-j.spareMaker.wake:
			j.makeSpare()
		}
	}
}

// createFile creates the file of a new segment at path, replacing one left
// there by an earlier, interrupted creation. Its failure publishes nothing
// (the file, if any, has a temporary name and holds nothing), so it is no
// reason to fail the instance: a full disk or quota is ErrNoSpace, anything
// else (a permission, a read-only file system, too many open files)
// ErrCreate, and the next roll tries again, once the cause is fixed.
func (j *Journal) createFile(path string) (mmapio.File, error) {
	f, err := j.fs.Create(path)
	if errors.Is(err, fs.ErrExist) {
		if rerr := j.fs.Remove(path); rerr == nil {
			f, err = j.fs.Create(path)
		}
	}
	if err != nil {
		if noSpace(err) {
			return nil, fmt.Errorf("%w: create %s: %w", ErrNoSpace, path, err)
		}
		return nil, fmt.Errorf("%w: create %s: %w", ErrCreate, path, err)
	}
	return f, nil
}

// noSpace reports an error that means the disk (or the caller's share of
// it) is full: ENOSPC, EDQUOT, or EFBIG, a file-size limit (RLIMIT_FSIZE,
// or the file system's largest file) below the segment size. The journal
// handles all three alike: nothing was published, and appends work again
// once there is room (smaller segments, in EFBIG's case).
func noSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) || errors.Is(err, syscall.EFBIG)
}

// prepareFile makes f, just created at path, a segment file ready for a
// roll: its space reserved and synced, mapped, and its head and slots
// faulted in. Every segment file starts so, whether the spare maker
// prepares it ahead or a roll finds no spare; the roll then only writes and
// syncs the header page and renames the file. On failure f is closed and
// removed; a failed sync also fails the instance, as anywhere else in the
// journal (the device lost writes, and what else it lost is unknown).
func (j *Journal) prepareFile(f mmapio.File, path string, size int64) (*spareFile, error) {
	fail := func(err error) (*spareFile, error) {
		_ = f.Close()
		_ = j.fs.Remove(path)
		return nil, err
	}
	if err := f.Allocate(size); err != nil {
		// A full disk lands here, not as a SIGBUS later.
		if errors.Is(err, syscall.EFBIG) {
			return fail(fmt.Errorf("%w: %d bytes for %s exceed the file-size limit (EFBIG; see ulimit -f, or use smaller segments): %w", ErrNoSpace, size, path, err))
		}
		if noSpace(err) {
			return fail(fmt.Errorf("%w: %d bytes for %s: %w", ErrNoSpace, size, path, err))
		}
		return fail(fmt.Errorf("journal: reserve %d bytes for %s: %w", size, path, err))
	}
	// Synced before the head is faulted in (and so dirty), so that the
	// roll's sync of the header page is all that remains.
	if err := f.Sync(); err != nil {
		return fail(j.fail(fmt.Errorf("sync %s: %w", path, err)))
	}
	mm, err := f.Map(0, int(size), true)
	if err != nil {
		return fail(fmt.Errorf("journal: map %s: %w", path, err))
	}
	faultInHead(f, mm, size, j.prefillChunk())
	return &spareFile{path: path, file: f, mm: mm, size: size}, nil
}

// makeSpare prepares a spare unless one is ready. A failure to create,
// reserve or map it is not an error: without a spare the roll prepares its
// file itself and reports what goes wrong there (a full disk as
// ErrNoSpace). A failed sync is (prepareFile fails the instance).
func (j *Journal) makeSpare() {
	m := &j.spareMaker
	m.mu.Lock()
	ready := m.spare != nil
	m.mu.Unlock()
	if ready {
		return
	}
	m.seq++ // only the spare maker (or, inline, the writer) makes spares
	path := filepath.Join(j.dir, spareName(m.seq))
	f, err := j.createFile(path)
	if err != nil {
		m.dropped.Add(1)
		return
	}
	sp, err := j.prepareFile(f, path, j.opts.SegmentSize)
	if err != nil {
		if !errors.Is(err, ErrFailed) {
			m.dropped.Add(1)
		}
		return
	}
	m.mu.Lock()
	if m.closed || m.spare != nil { // closing, or a cut recycled a segment meanwhile
		m.mu.Unlock()
		sp.discard(j)
		return
	}
	m.spare = sp
	m.mu.Unlock()
}

// recycleLocked makes segment s, just removed from the set by a cut at the
// back or a Reset, the spare instead of unlinking it, and reports whether
// it took s (err says whether the rename failed; s is then released and
// unlinked). It declines unless spares are on, none is ready, s has the
// size segments are created with and is mapped, and nothing but the set
// pins s: the reference count goes from 1 to 0 by compare-and-swap, so no
// reader can pin s afterwards, and no view of a discarded entry can see its
// bytes overwritten.
//
// Reuse is safe on disk for the reasons a spare is: the roll gives the file
// a new segment ID, so a new salt, and every chunk, checkpoint and trailer
// left from its earlier life fails its check; until then the file has a
// temporary name, which Open removes. Called under the writer lock.
func (j *Journal) recycleLocked(s *segment) (bool, error) {
	if j.opts.spare == spareOff || s.size != j.opts.SegmentSize || !s.loaded.Load() || s.mm == nil {
		return false, nil
	}
	m := &j.spareMaker
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.spare != nil || m.closed || !s.refs.CompareAndSwap(1, 0) {
		return false, nil
	}
	// The name is unique: segment IDs are never reused, and the spare
	// maker's names have no "r".
	path := filepath.Join(j.dir, fmt.Sprintf("spare-r%d.seg%s", s.id, tmpSuffix))
	if err := j.fs.Rename(s.path, path); err != nil {
		s.release()
		if rerr := j.fs.Remove(s.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return true, rerr
		}
		return true, nil
	}
	s.loadMu.Lock()
	m.spare = &spareFile{path: path, file: s.file, mm: s.mm, size: s.size}
	s.file, s.mm, s.data = nil, nil, nil
	s.loadMu.Unlock()
	j.liveSegments.Add(-1)
	m.recycled.Add(1)
	return true, nil
}

// closeSpare unmaps and closes the spare at Close, after the background
// goroutines have stopped, and removes its file unless keep is set (tests
// that simulate a crash leave it for recovery to remove).
func (j *Journal) closeSpare(keep bool) {
	m := &j.spareMaker
	m.mu.Lock()
	sp := m.spare
	m.spare, m.closed = nil, true
	m.mu.Unlock()
	switch {
	case sp == nil:
	case keep:
		_ = sp.mm.Unmap()
		_ = sp.file.Close()
	default:
		sp.discard(j)
	}
}
