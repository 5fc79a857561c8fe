package crashfs

import (
	"fmt"
	"sync"

	"github.com/spoolhq/spool/mmapio"
)

// Map implements mmapio.File. The mapping is of the working image itself;
// the file can grow under it without moving it, and cannot shrink under it.
func (h *file) Map(off int64, length int, writable bool) (mmapio.Mapping, error) {
	if err := h.check("map"); err != nil {
		return nil, err
	}
	page := int64(mmapio.PageSize())
	if off%page != 0 || off < 0 || length <= 0 {
		return nil, fmt.Errorf("%w: map %s [%d,+%d): offset not page-aligned or empty", ErrInvalid, h.name, off, length)
	}
	if writable && !h.writable {
		return nil, fmt.Errorf("%w: map %s writable: opened read-only", ErrInvalid, h.name)
	}
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if off+int64(length) > h.ino.size {
		return nil, fmt.Errorf("%w: map %s [%d,+%d): past end of file (%d bytes)", ErrInvalid, h.name, off, length, h.ino.size)
	}
	b, err := mapShared(h.ino.back, off, length, writable)
	if err != nil {
		return nil, fmt.Errorf("crashfs: mmap %s: %w", h.name, err)
	}
	h.ino.maps++
	return &mapping{fs: f, ino: h.ino, name: h.name, off: off, b: b}, nil
}

// mapping is a shared mapping of an inode's working image.
type mapping struct {
	fs   *FS
	ino  *inode
	name string
	off  int64
	mu   sync.Mutex // guards b against Unmap racing Sync
	b    []byte
}

// Bytes implements mmapio.Mapping: the working image itself.
func (m *mapping) Bytes() []byte { return m.b }

// pages widens [off, off+n) of the mapping to page boundaries.
func (m *mapping) pages(off, n int) (int, int, error) {
	if m.b == nil {
		return 0, 0, mmapio.ErrClosed
	}
	if off < 0 || n < 0 || off+n > len(m.b) {
		return 0, 0, fmt.Errorf("%w: range [%d,+%d) outside mapping of %d bytes", ErrInvalid, off, n, len(m.b))
	}
	page := mmapio.PageSize()
	return off &^ (page - 1), min(len(m.b), (off+n+page-1)&^(page-1)), nil
}

// Sync implements mmapio.Mapping (msync MS_SYNC of the enclosing pages).
func (m *mapping) Sync(off, n int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	lo, hi, err := m.pages(off, n)
	if err != nil || hi <= lo {
		return err
	}
	f := m.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("msync", fmt.Sprintf("%s [%d,%d)", m.name, m.off+int64(lo), m.off+int64(hi))); err != nil {
		return err
	}
	return f.persistLocked(m.ino, m.name, m.off+int64(lo), m.off+int64(hi))
}

// Advise implements mmapio.Mapping; hints are checked and ignored.
func (m *mapping) Advise(off, n int, advice mmapio.Advice) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _, err := m.pages(off, n)
	return err
}

// Unmap implements mmapio.Mapping.
func (m *mapping) Unmap() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.b == nil {
		return mmapio.ErrClosed
	}
	err := unmap(m.b)
	m.b = nil
	m.fs.mu.Lock()
	m.ino.maps--
	m.fs.mu.Unlock()
	if err != nil {
		return fmt.Errorf("crashfs: munmap %s: %w", m.name, err)
	}
	return nil
}
