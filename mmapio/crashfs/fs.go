package crashfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/spoolhq/spool/mmapio"
)

// Sentinel errors; errors returned by the FS wrap one of them (and, for
// injected faults, the errno a kernel would return). Compare with errors.Is.
var (
	// ErrCrashed reports a mutating operation attempted after the FS froze
	// at a crash: it did not happen.
	ErrCrashed = errors.New("crashfs: crashed")
	// ErrInjected reports a fault armed with Inject; the error also wraps
	// the errno (syscall.EIO, syscall.ENOSPC) or io.ErrShortWrite.
	ErrInjected = errors.New("crashfs: injected fault")
	// ErrNoSpace reports a write or allocation past SetCapacity; the
	// error also wraps syscall.ENOSPC.
	ErrNoSpace = errors.New("crashfs: no space")
	// ErrClosed reports a mutating operation on an FS after Close.
	ErrClosed = errors.New("crashfs: closed")
	// ErrInvalid reports an invalid argument: a negative offset, an
	// unaligned or out-of-range mapping or sync range.
	ErrInvalid = errors.New("crashfs: invalid argument")
)

// Persistence granularity: a crash decides the fate of each unsynced page,
// and within a torn page of each sector, independently.
const (
	PageSize   = 4096
	SectorSize = 512
)

// inode is one file's data, independent of the names pointing at it.
type inode struct {
	id      int
	back    *os.File         // working image
	size    int64            // working size
	dur     []byte           // durable image; its length is the durable size
	lost    map[int64][]byte // page offset -> working bytes a failed sync marked clean
	handles int
	maps    int
}

// dirOpKind is the kind of an unsynced namespace change.
type dirOpKind uint8

const (
	opCreate dirOpKind = iota + 1
	opRemove
	opRename
)

func (k dirOpKind) String() string {
	switch k {
	case opCreate:
		return "create"
	case opRemove:
		return "remove"
	}
	return "rename"
}

// dirOp is a namespace change not yet made durable by SyncDir.
type dirOp struct {
	kind     dirOpKind
	dir      string
	name, to string
	ino      *inode
}

// FS is a crashable in-memory implementation of mmapio.FS. The zero value
// is not usable; call New. It is safe for concurrent use.
type FS struct {
	mu       sync.Mutex
	dirs     map[string]bool
	names    map[string]*inode // working namespace
	durNames map[string]*inode // durable namespace
	pending  []dirOp
	locks    map[string]bool
	inodes   []*inode // every inode, so Close can release their backings
	ops      int64    // mutating operations performed
	crashAt  int64    // the operation with this number is the crash; 0: none armed
	snap     *Snapshot
	closed   bool // Close ran: mutating operations fail with ErrClosed
	faults   []*armed
	capacity int64 // bytes all files may hold; 0: unlimited
	noPunch  bool  // PunchHole reports mmapio.ErrNoPunch (SetPunch)
	tracing  bool
	trace    []string
}

var _ mmapio.FS = (*FS)(nil)

// New returns an empty FS whose only directory is the root.
func New() *FS {
	return &FS{
		dirs:     map[string]bool{"/": true, ".": true},
		names:    map[string]*inode{},
		durNames: map[string]*inode{},
		locks:    map[string]bool{},
	}
}

// Close releases the memory behind every file. Mappings still live keep
// their pages until unmapped. Every later mutating operation fails with an
// error wrapping ErrClosed, so a test that tears the FS down before the
// code using it has finished finds out.
func (f *FS) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	var first error
	for _, ino := range f.inodes {
		if ino.back != nil {
			if err := ino.back.Close(); err != nil && first == nil {
				first = err
			}
			ino.back = nil
		}
	}
	return first
}

// SetCapacity bounds the total size of all live files (0: unlimited).
// Lowering it below current use makes later growth fail, nothing else.
func (f *FS) SetCapacity(bytes int64) {
	f.mu.Lock()
	f.capacity = bytes
	f.mu.Unlock()
}

// SetPunch says whether files support PunchHole (they do by default);
// without it PunchHole fails with an error wrapping mmapio.ErrNoPunch, as
// on a file system that cannot punch holes.
func (f *FS) SetPunch(supported bool) {
	f.mu.Lock()
	f.noPunch = !supported
	f.mu.Unlock()
}

// Used returns the bytes held by live files: those with a name in the
// working namespace or an open handle or mapping.
func (f *FS) Used() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.usedLocked()
}

func (f *FS) usedLocked() int64 {
	linked := map[*inode]bool{}
	for _, ino := range f.names {
		linked[ino] = true
	}
	var n int64
	for _, ino := range f.inodes {
		if linked[ino] || ino.handles > 0 || ino.maps > 0 {
			n += ino.size
		}
	}
	return n
}

// Ops returns the number of mutating operations performed so far; crash
// points are numbered by it (see CrashAfter).
func (f *FS) Ops() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops
}

// SetTrace turns recording of mutating operations on or off.
func (f *FS) SetTrace(on bool) {
	f.mu.Lock()
	f.tracing = on
	f.mu.Unlock()
}

// Trace returns the mutating operations recorded since SetTrace(true), one
// line each, numbered as Ops counts them.
func (f *FS) Trace() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.trace)
}

// begin accounts for one mutating operation: it refuses it after a crash,
// and freezes the FS instead of performing it when it is the armed crash
// point. The caller holds f.mu.
func (f *FS) begin(op, name string) error {
	if f.closed {
		return fmt.Errorf("%w: %s %s", ErrClosed, op, name)
	}
	if f.snap != nil {
		return fmt.Errorf("%w: %s %s", ErrCrashed, op, name)
	}
	if f.crashAt != 0 && f.ops+1 >= f.crashAt {
		f.freezeLocked()
		return fmt.Errorf("%w: %s %s", ErrCrashed, op, name)
	}
	f.ops++
	if f.tracing {
		f.trace = append(f.trace, fmt.Sprintf("%d %s %s", f.ops, op, name))
	}
	return nil
}

func (f *FS) newInodeLocked() (*inode, error) {
	back, err := newBacking()
	if err != nil {
		return nil, fmt.Errorf("crashfs: backing file: %w", err)
	}
	ino := &inode{id: len(f.inodes), back: back, lost: map[int64][]byte{}}
	f.inodes = append(f.inodes, ino)
	return ino, nil
}

func clean(name string) string { return filepath.Clean(name) }

// Create implements mmapio.FS.
func (f *FS) Create(name string) (mmapio.File, error) {
	name = clean(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("create", name); err != nil {
		return nil, err
	}
	dir := filepath.Dir(name)
	if !f.dirs[dir] {
		return nil, &fs.PathError{Op: "create", Path: name, Err: fs.ErrNotExist}
	}
	if _, ok := f.names[name]; ok {
		return nil, &fs.PathError{Op: "create", Path: name, Err: fs.ErrExist}
	}
	if fl := f.match(CreateFail, name); fl != nil {
		return nil, injected("create", name, fl.errnoOr(errEACCES))
	}
	ino, err := f.newInodeLocked()
	if err != nil {
		return nil, err
	}
	f.names[name] = ino
	f.pending = append(f.pending, dirOp{kind: opCreate, dir: dir, name: name, ino: ino})
	ino.handles++
	return &file{fs: f, ino: ino, name: name, writable: true}, nil
}

// Open implements mmapio.FS.
func (f *FS) Open(name string, writable bool) (mmapio.File, error) {
	name = clean(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	ino, ok := f.names[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	ino.handles++
	return &file{fs: f, ino: ino, name: name, writable: writable}, nil
}

// Remove implements mmapio.FS.
func (f *FS) Remove(name string) error {
	name = clean(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("remove", name); err != nil {
		return err
	}
	ino, ok := f.names[name]
	if !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(f.names, name)
	f.pending = append(f.pending, dirOp{kind: opRemove, dir: filepath.Dir(name), name: name, ino: ino})
	return nil
}

// Rename implements mmapio.FS.
func (f *FS) Rename(oldname, newname string) error {
	oldname, newname = clean(oldname), clean(newname)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("rename", oldname+" -> "+newname); err != nil {
		return err
	}
	ino, ok := f.names[oldname]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldname, Err: fs.ErrNotExist}
	}
	if !f.dirs[filepath.Dir(newname)] {
		return &fs.PathError{Op: "rename", Path: newname, Err: fs.ErrNotExist}
	}
	delete(f.names, oldname)
	f.names[newname] = ino
	f.pending = append(f.pending, dirOp{kind: opRename, dir: filepath.Dir(oldname), name: oldname, to: newname, ino: ino})
	return nil
}

// MkdirAll implements mmapio.FS. Directories are durable at once.
func (f *FS) MkdirAll(dir string) error {
	dir = clean(dir)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.snap != nil {
		return fmt.Errorf("%w: mkdir %s", ErrCrashed, dir)
	}
	for d := dir; !f.dirs[d]; d = filepath.Dir(d) {
		if _, ok := f.names[d]; ok {
			return &fs.PathError{Op: "mkdir", Path: d, Err: fs.ErrExist}
		}
		f.dirs[d] = true
	}
	return nil
}

// List implements mmapio.FS.
func (f *FS) List(dir string) ([]string, error) {
	dir = clean(dir)
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.dirs[dir] {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fs.ErrNotExist}
	}
	var out []string
	for n := range f.names {
		if filepath.Dir(n) == dir {
			out = append(out, filepath.Base(n))
		}
	}
	for d := range f.dirs {
		if d != dir && filepath.Dir(d) == dir {
			out = append(out, filepath.Base(d))
		}
	}
	slices.Sort(out)
	return out, nil
}

// SyncDir implements mmapio.FS: the directory's queued creates, removes and
// renames become durable, in the order they were made.
func (f *FS) SyncDir(dir string) error {
	dir = clean(dir)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("syncdir", dir); err != nil {
		return err
	}
	if fl := f.match(SyncDirEIO, dir); fl != nil {
		return injected("fsync dir", dir, errEIO)
	}
	kept := f.pending[:0]
	for _, op := range f.pending {
		if op.dir != dir {
			kept = append(kept, op)
			continue
		}
		applyDirOp(f.durNames, op)
	}
	f.pending = kept
	return nil
}

// applyDirOp applies a namespace change to a durable view. A rename whose
// source never became durable still lands its target: the entry names the
// inode, wherever the source went.
func applyDirOp(names map[string]*inode, op dirOp) {
	switch op.kind {
	case opCreate:
		names[op.name] = op.ino
	case opRemove:
		if names[op.name] == op.ino {
			delete(names, op.name)
		}
	case opRename:
		if names[op.name] == op.ino {
			delete(names, op.name)
		}
		names[op.to] = op.ino
	}
}

// Lock implements mmapio.FS. The lock is held per FS; the lock file is
// created (durably) if missing.
func (f *FS) Lock(name string) (io.Closer, error) {
	name = clean(name)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.locks[name] {
		return nil, fmt.Errorf("%w: %s", mmapio.ErrLocked, name)
	}
	if _, ok := f.names[name]; !ok {
		if !f.dirs[filepath.Dir(name)] {
			return nil, &fs.PathError{Op: "lock", Path: name, Err: fs.ErrNotExist}
		}
		ino, err := f.newInodeLocked()
		if err != nil {
			return nil, err
		}
		f.names[name], f.durNames[name] = ino, ino
	}
	f.locks[name] = true
	return &lock{fs: f, name: name}, nil
}

type lock struct {
	fs   *FS
	name string
	once sync.Once
}

func (l *lock) Close() error {
	err := mmapio.ErrClosed
	l.once.Do(func() {
		l.fs.mu.Lock()
		delete(l.fs.locks, l.name)
		l.fs.mu.Unlock()
		err = nil
	})
	return err
}
