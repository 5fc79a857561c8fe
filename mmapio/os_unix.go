//go:build linux || darwin

package mmapio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// OS is the production FS: the operating system's files and mappings.
var OS FS = osFS{}

// PageSize returns the size of a memory page; mappings and msync ranges are
// aligned to it.
func PageSize() int { return pageSize }

var pageSize = os.Getpagesize()

type osFS struct{}

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &osFile{f: f}, nil
}

func (osFS) Open(name string, writable bool) (File, error) {
	flag := os.O_RDONLY
	if writable {
		flag = os.O_RDWR
	}
	f, err := os.OpenFile(name, flag, 0)
	if err != nil {
		return nil, err
	}
	return &osFile{f: f, readOnly: !writable}, nil
}

func (osFS) Remove(name string) error             { return os.Remove(name) }
func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(dir string) error            { return os.MkdirAll(dir, 0o755) }

func (osFS) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	slices.Sort(names)
	return names, nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := fsyncDir(d); err != nil {
		return fmt.Errorf("mmapio: fsync dir %s: %w", dir, err)
	}
	return nil
}

func (osFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, name)
		}
		return nil, fmt.Errorf("mmapio: flock %s: %w", name, err)
	}
	return f, nil // closing the file releases the lock
}

var _ HolePuncher = (*osFile)(nil)

// osFile is an *os.File with mapping bookkeeping.
type osFile struct {
	f        *os.File
	readOnly bool
	mapped   atomic.Int32 // live mappings: the file must not shrink under them
	closed   atomic.Bool
}

func (f *osFile) Name() string { return f.f.Name() }

func (f *osFile) ReadAt(p []byte, off int64) (int, error)  { return f.f.ReadAt(p, off) }
func (f *osFile) WriteAt(p []byte, off int64) (int, error) { return f.f.WriteAt(p, off) }

func (f *osFile) Close() error {
	if !f.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	return f.f.Close()
}

func (f *osFile) Size() (int64, error) {
	st, err := f.f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

func (f *osFile) Allocate(size int64) error {
	cur, err := f.Size()
	if err != nil {
		return err
	}
	if err := allocate(f.f, cur, size); err != nil {
		if errors.Is(err, unix.EFBIG) {
			// Says which limit: "file too large" alone reads like a
			// property of the file, not the process's RLIMIT_FSIZE
			// (ulimit -f) or the file system's maximum file size.
			return fmt.Errorf("mmapio: allocate %s to %d bytes: over the file-size limit (EFBIG: ulimit -f or the file system's maximum): %w", f.f.Name(), size, err)
		}
		return fmt.Errorf("mmapio: allocate %s to %d bytes: %w", f.f.Name(), size, err)
	}
	return nil
}

func (f *osFile) Truncate(size int64) error {
	cur, err := f.Size()
	if err != nil {
		return err
	}
	if size < cur && f.mapped.Load() > 0 {
		return fmt.Errorf("%w: shrink %s from %d to %d", ErrMapped, f.f.Name(), cur, size)
	}
	return f.f.Truncate(size)
}

func (f *osFile) Sync() error {
	if err := datasync(f.f); err != nil {
		return fmt.Errorf("mmapio: sync %s: %w", f.f.Name(), err)
	}
	return nil
}

// PunchHole implements HolePuncher (punch_linux.go, punch_darwin.go).
func (f *osFile) PunchHole(off, n int64) error {
	if f.closed.Load() {
		return ErrClosed
	}
	if off < 0 || n < 0 {
		return fmt.Errorf("mmapio: punch %s [%d,+%d): negative range", f.f.Name(), off, n)
	}
	if n == 0 {
		return nil
	}
	if err := punchHole(f.f, off, n); err != nil {
		return fmt.Errorf("mmapio: punch %s [%d,+%d): %w", f.f.Name(), off, n, err)
	}
	return nil
}

func (f *osFile) Map(off int64, length int, writable bool) (Mapping, error) {
	if off%int64(pageSize) != 0 || off < 0 || length <= 0 {
		return nil, fmt.Errorf("mmapio: map %s [%d,+%d): offset not page-aligned or empty", f.f.Name(), off, length)
	}
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if off+int64(length) > size {
		return nil, fmt.Errorf("mmapio: map %s [%d,+%d): past end of file (%d bytes)", f.f.Name(), off, length, size)
	}
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	b, err := unix.Mmap(int(f.f.Fd()), off, length, prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmapio: mmap %s [%d,+%d): %w", f.f.Name(), off, length, err)
	}
	f.mapped.Add(1)
	return &osMapping{file: f, b: b}, nil
}

// osMapping is a shared mapping made with mmap.
type osMapping struct {
	file *osFile
	mu   sync.Mutex // guards b against Unmap racing Sync/Advise
	b    []byte
}

func (m *osMapping) Bytes() []byte { return m.b }

// pageRange widens [off, off+n) to page boundaries within the mapping.
func (m *osMapping) pageRange(off, n int) ([]byte, error) {
	if m.b == nil {
		return nil, ErrClosed
	}
	if off < 0 || n < 0 || off+n > len(m.b) {
		return nil, fmt.Errorf("mmapio: range [%d,+%d) outside mapping of %d bytes", off, n, len(m.b))
	}
	start := off &^ (pageSize - 1)
	end := min(len(m.b), (off+n+pageSize-1)&^(pageSize-1))
	return m.b[start:end], nil
}

func (m *osMapping) Sync(off, n int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.pageRange(off, n)
	if err != nil || len(r) == 0 {
		return err
	}
	if err := unix.Msync(r, unix.MS_SYNC); err != nil {
		return fmt.Errorf("mmapio: msync %s [%d,+%d): %w", m.file.f.Name(), off, n, err)
	}
	return nil
}

func (m *osMapping) Advise(off, n int, advice Advice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, err := m.pageRange(off, n)
	if err != nil || len(r) == 0 {
		return err
	}
	return advise(r, advice)
}

func (m *osMapping) Unmap() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.b == nil {
		return ErrClosed
	}
	err := unix.Munmap(m.b)
	m.b = nil
	m.file.mapped.Add(-1)
	if err != nil {
		return fmt.Errorf("mmapio: munmap %s: %w", m.file.f.Name(), err)
	}
	return nil
}
