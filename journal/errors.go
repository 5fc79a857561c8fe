package journal

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Errors returned by the journal wrap one of them; compare
// with errors.Is.
var (
	// ErrCorrupt reports damaged data inside the acknowledged range of the
	// journal (a bad checksum, an impossible length, a missing segment). It
	// is never returned for a torn, unacknowledged tail, which recovery trims.
	ErrCorrupt = errors.New("journal: corrupt")
	// ErrForeign reports a directory or file that is not part of this
	// journal (another journal's segment, or not a spool file at all).
	ErrForeign = errors.New("journal: foreign file")
	// ErrVersion reports a format newer than this build understands.
	ErrVersion = errors.New("journal: unsupported format version")
	// ErrNotFound reports that the journal directory does not exist and
	// Options.NoCreate was set.
	ErrNotFound = errors.New("journal: not found")
	// ErrOutOfRange reports a read of an index outside [FirstIndex, LastIndex].
	ErrOutOfRange = errors.New("journal: index out of range")
	// ErrClosed reports use of a closed journal.
	ErrClosed = errors.New("journal: closed")
	// ErrFailed reports that an earlier sync or write failure made the
	// journal instance unusable for writing (the failure is wrapped too).
	// Reopen it to recover what is durable.
	ErrFailed = errors.New("journal: failed")
	// ErrTooLarge reports an entry longer than Options.MaxEntrySize.
	ErrTooLarge = errors.New("journal: entry too large")
	// ErrReleased reports use of a View after Release.
	ErrReleased = errors.New("journal: view used after release")
	// ErrMetaFull reports that the caller's meta key/value area is full.
	ErrMetaFull = errors.New("journal: meta area full")
	// ErrNoSpace reports that a new segment could not be created or
	// reserved because the disk is full (ENOSPC), a quota is exhausted
	// (EDQUOT) or the segment size exceeds a file-size limit (EFBIG:
	// ulimit -f, or the file system's largest file); the cause is wrapped.
	// The journal stays readable and usable: appends succeed again once
	// space is freed (TruncateFront reclaims it) or the limit raised.
	ErrNoSpace = errors.New("journal: no space to reserve a segment")
	// ErrNotEmpty reports that Open was asked to create a journal in a
	// directory that holds no journal but holds other files (a
	// NotEmptyError lists some). Options.AllowNonEmpty permits it.
	ErrNotEmpty = errors.New("journal: directory holds no journal and is not empty")
	// ErrCreate reports that a new segment file could not be created (a
	// permission denied, a read-only file system, too many open files).
	// Nothing was published: the journal stays readable and usable, and
	// the next append that needs a segment tries again.
	ErrCreate = errors.New("journal: cannot create a segment file")
	// ErrInvalidIndex reports an append or truncation index that would break
	// contiguity.
	ErrInvalidIndex = errors.New("journal: invalid index")
)

// CorruptError describes damage found in a journal file: which file, where,
// and which entry, wrapping ErrCorrupt (or ErrForeign/ErrVersion).
type CorruptError struct {
	Path   string // file
	Offset int64  // byte offset in the file, or -1
	Index  uint64 // entry index involved, or 0 if unknown
	Reason string
	Err    error // sentinel
}

func (e *CorruptError) Error() string {
	s := fmt.Sprintf("%v: %s", e.Err, e.Path)
	if e.Offset >= 0 {
		s += fmt.Sprintf(" at offset %d", e.Offset)
	}
	if e.Index != 0 {
		s += fmt.Sprintf(" (index %d)", e.Index)
	}
	return s + ": " + e.Reason
}

// Unwrap returns the sentinel.
func (e *CorruptError) Unwrap() error { return e.Err }

func corruptf(path string, off int64, idx uint64, format string, args ...any) error {
	return &CorruptError{Path: path, Offset: off, Index: idx, Reason: fmt.Sprintf(format, args...), Err: ErrCorrupt}
}

func isVersionOrForeign(err error) bool {
	return errors.Is(err, ErrVersion) || errors.Is(err, ErrForeign)
}

func sentinelOf(err error) error {
	for _, s := range []error{ErrVersion, ErrForeign, ErrCorrupt} {
		if errors.Is(err, s) {
			return s
		}
	}
	return ErrCorrupt
}

// NotEmptyError is returned by Open for a directory that holds no journal
// but holds other files; it wraps ErrNotEmpty.
type NotEmptyError struct {
	Dir   string
	Names []string // some of the unrelated names, sorted
}

func (e *NotEmptyError) Error() string {
	return fmt.Sprintf("%v: %s holds %s (Options.AllowNonEmpty creates a journal beside them)", ErrNotEmpty, e.Dir, strings.Join(e.Names, ", "))
}

// Unwrap returns ErrNotEmpty.
func (e *NotEmptyError) Unwrap() error { return ErrNotEmpty }
