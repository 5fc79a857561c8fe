package crashfs

import (
	"fmt"
	"strings"
	"syscall"
)

// FaultKind names an injectable failure.
type FaultKind int

// Fault kinds, each matched against one kind of operation.
const (
	// SyncEIO fails a File.Sync or Mapping.Sync with EIO and marks the
	// pages it covered clean without persisting them (fsyncgate).
	SyncEIO FaultKind = iota + 1
	// SyncDirEIO fails a SyncDir with EIO; nothing queued lands.
	SyncDirEIO
	// WriteENOSPC makes a WriteAt write Fault.At bytes, then fail with
	// ENOSPC.
	WriteENOSPC
	// ShortWrite makes a WriteAt write Fault.At bytes, then fail with
	// io.ErrShortWrite.
	ShortWrite
	// AllocENOSPC fails an Allocate with ENOSPC, or with Fault.Errno when
	// it is set (EFBIG for a file-size limit, EDQUOT for a quota).
	AllocENOSPC
	// ReadEIO fails a ReadAt with EIO.
	ReadEIO
	// Misdirect makes a sync persist the first changed sector it covers
	// Fault.Shift bytes away (or back, if that falls outside the file)
	// instead of in its place, which keeps its old bytes. The sync
	// reports success.
	Misdirect
	// CreateFail fails a Create with Fault.Errno (EACCES when it is
	// zero), as a directory whose write permission was removed, a
	// read-only file system or an exhausted inode table would; nothing is
	// created.
	CreateFail
	// PunchFail fails a PunchHole with Fault.Errno (EIO when it is zero;
	// EOPNOTSUPP mimics a file system that cannot punch); nothing is
	// deallocated.
	PunchFail
)

// String names the fault kind.
func (k FaultKind) String() string {
	switch k {
	case SyncEIO:
		return "sync-eio"
	case SyncDirEIO:
		return "syncdir-eio"
	case WriteENOSPC:
		return "write-enospc"
	case ShortWrite:
		return "short-write"
	case AllocENOSPC:
		return "alloc-enospc"
	case ReadEIO:
		return "read-eio"
	case Misdirect:
		return "misdirect"
	case CreateFail:
		return "create-fail"
	case PunchFail:
		return "punch-fail"
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault is a one-shot failure armed with Inject.
type Fault struct {
	Kind FaultKind
	// Path selects the files (or, for SyncDirEIO, directories) whose
	// operations match: a substring of the name; "" matches all.
	Path string
	// Skip is the number of matching operations let through before the
	// one that fails.
	Skip int
	// At is where a WriteENOSPC or ShortWrite write stops, in bytes from
	// the start of the write.
	At int
	// Errno is the error a CreateFail, AllocENOSPC or PunchFail fault
	// returns instead of its default (EACCES, ENOSPC, EIO).
	Errno syscall.Errno
	// Shift is how far a Misdirect sector lands from its place; 0 means
	// one page.
	Shift int64
}

type armed struct {
	Fault
	seen  int
	fired bool
}

var (
	errEIO    error = syscall.EIO
	errENOSPC error = syscall.ENOSPC
	errEACCES error = syscall.EACCES
)

// errnoOr returns the fault's Errno, or def when it has none.
func (a *armed) errnoOr(def error) error {
	if a.Errno != 0 {
		return a.Errno
	}
	return def
}

func injected(op, name string, errno error) error {
	return fmt.Errorf("%w: %s %s: %w", ErrInjected, op, name, errno)
}

// Inject arms a fault. Faults fire once each, in the order of the
// operations they match.
func (f *FS) Inject(fl Fault) {
	if fl.Kind == Misdirect && fl.Shift == 0 {
		fl.Shift = PageSize
	}
	f.mu.Lock()
	f.faults = append(f.faults, &armed{Fault: fl})
	f.mu.Unlock()
}

// Fired returns the number of injected faults that have fired.
func (f *FS) Fired() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, a := range f.faults {
		if a.fired {
			n++
		}
	}
	return n
}

// match returns the armed fault of kind that this operation on name
// triggers, marking it fired, or nil. The caller holds f.mu.
func (f *FS) match(kind FaultKind, name string) *armed {
	for _, a := range f.faults {
		if a.fired || a.Kind != kind || !strings.Contains(name, a.Path) {
			continue
		}
		if a.seen < a.Skip {
			a.seen++
			continue
		}
		a.fired = true
		return a
	}
	return nil
}
