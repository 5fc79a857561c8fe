package mmapio

import (
	"errors"
	"fmt"
	"io"
)

// Sentinel errors. Implementations wrap them with %w and the operation, path
// and offset involved; callers compare with errors.Is.
var (
	// ErrLocked reports that another process (or another FS user) already
	// holds the exclusive lock on a directory.
	ErrLocked = errors.New("mmapio: locked by another process")
	// ErrFault reports that a memory access through a mapping faulted
	// (SIGBUS/SIGSEGV), typically because the file was truncated under the
	// mapping or the disk could not supply the page.
	ErrFault = errors.New("mmapio: memory fault in mapping")
	// ErrMapped reports an operation that is unsafe while a mapping of the
	// file is live, such as shrinking it.
	ErrMapped = errors.New("mmapio: file is mapped")
	// ErrClosed reports use of a File or Mapping after Close or Unmap.
	ErrClosed = errors.New("mmapio: use after close")
	// ErrNoPunch reports that the file system cannot deallocate a range
	// of a file (no FALLOC_FL_PUNCH_HOLE, or a platform without it). It
	// also wraps errors.ErrUnsupported.
	ErrNoPunch = fmt.Errorf("mmapio: hole punching unsupported: %w", errors.ErrUnsupported)
)

// HolePuncher is implemented by a File that can give back the disk blocks
// of a range while keeping the file's size: the range then reads as zeros,
// through ReadAt and through every mapping of it (the kernel drops the
// range's cached pages first, so a mapped byte there reads zero from then
// on). It is an optional interface, checked with a type assertion, so that
// a File wrapper that does not forward it simply never punches.
//
// PunchHole deallocates [off, off+n). A range not aligned to the file
// system's block size has its partial blocks zeroed in place rather than
// freed; callers that must not see partial zeroing pass block-aligned
// ranges. It returns an error wrapping ErrNoPunch where the file system or
// platform cannot punch (the file is unchanged), and ErrClosed after Close.
// The deallocation is not durable until a Sync of the file: a crash may
// leave any part of the range with its old bytes.
type HolePuncher interface {
	PunchHole(off, n int64) error
}

// FS is the seam through which the journal performs every filesystem and
// mapping operation. The production implementation is OS; tests substitute a
// crashable in-memory implementation. Paths are slash-separated and absolute
// or relative to the process working directory, exactly as given.
//
// Implementations must be safe for concurrent use.
type FS interface {
	// Create creates a new file for reading and writing. It fails if the
	// file already exists. The new directory entry is not durable until
	// SyncDir is called on its directory.
	Create(name string) (File, error)
	// Open opens an existing file, read-write when writable is true.
	Open(name string, writable bool) (File, error)
	// Remove unlinks a file. Space is reclaimed once the last handle and
	// mapping of it are gone. Not durable until SyncDir.
	Remove(name string) error
	// Rename atomically renames a file. Not durable until SyncDir.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and any missing parents.
	MkdirAll(dir string) error
	// List returns the names (not paths) of the entries of dir, sorted.
	List(dir string) ([]string, error)
	// SyncDir makes the directory's entries durable (fsync on the directory).
	SyncDir(dir string) error
	// Lock takes an exclusive advisory lock on the file name (creating it if
	// needed) for the life of the returned Closer. A second Lock of the same
	// name, from this or another process, fails with ErrLocked.
	Lock(name string) (io.Closer, error)
}

// File is an open file of an FS.
//
// Concurrency: ReadAt, WriteAt and Map may be called concurrently; Allocate,
// Truncate and Close must not run concurrently with other calls on the File.
type File interface {
	io.ReaderAt
	io.WriterAt
	io.Closer
	// Name returns the name the file was opened with.
	Name() string
	// Size returns the current file size.
	Size() (int64, error)
	// Allocate reserves disk blocks for [0, size) and extends the file to
	// size if it is shorter. Space is really reserved (fallocate on Linux,
	// F_PREALLOCATE on macOS, explicit zero writes as a last resort), never a
	// sparse ftruncate, so that a later write through a mapping cannot fault
	// for lack of space. A full disk is reported here as an error.
	Allocate(size int64) error
	// Truncate changes the file size. Shrinking a file that has a live
	// mapping returns ErrMapped.
	Truncate(size int64) error
	// Sync makes the file's data durable (fdatasync on Linux, F_FULLFSYNC on
	// macOS). A failed Sync is not retried by callers: the pages it covered
	// may have been dropped.
	Sync() error
	// Map maps [off, off+length) of the file shared and, when writable,
	// read-write. off must be a multiple of PageSize. The range must lie
	// within the file's current size.
	Map(off int64, length int, writable bool) (Mapping, error)
}

// Mapping is a shared memory mapping of part of a File. Writes into Bytes()
// are writes to the file's pages; they become durable after Sync (or
// File.Sync) covering them.
//
// Concurrency: Bytes may be read and written concurrently with Sync and
// Advise; Unmap must be called exactly once, after every use of Bytes.
type Mapping interface {
	// Bytes returns the mapped memory. It is invalid after Unmap; touching
	// it then faults.
	Bytes() []byte
	// Sync makes [off, off+n) of the mapping durable (msync MS_SYNC on the
	// enclosing pages). off and n need not be page-aligned: the range is
	// widened to page boundaries.
	Sync(off, n int) error
	// Advise passes an access-pattern hint for [off, off+n) (madvise). The
	// range is widened to page boundaries. Hints are best effort; an
	// implementation may ignore them.
	Advise(off, n int, advice Advice) error
	// Unmap releases the mapping.
	Unmap() error
}

// Advice is an access-pattern hint for Mapping.Advise.
type Advice int

// Access-pattern hints.
const (
	AdviseNormal     Advice = iota // no special treatment
	AdviseSequential               // read ahead aggressively, drop behind
	AdviseRandom                   // no read-ahead
	AdviseWillNeed                 // start reading the range in now
	AdviseDontNeed                 // the range will not be accessed soon
	// AdviseWillWrite prefaults the range writable (MADV_POPULATE_WRITE on
	// Linux 5.14+), so that later writes take no page fault. Where the
	// kernel lacks it, the hint is ignored.
	AdviseWillWrite
)
