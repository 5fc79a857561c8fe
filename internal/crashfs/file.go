package crashfs

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/spoolhq/spool/mmapio"
)

// file is an open handle on an inode.
type file struct {
	fs       *FS
	ino      *inode
	name     string
	writable bool
	closed   atomic.Bool
}

var _ mmapio.File = (*file)(nil)

func (h *file) Name() string { return h.name }

func (h *file) check(op string) error {
	if h.closed.Load() {
		return fmt.Errorf("%w: %s %s", mmapio.ErrClosed, op, h.name)
	}
	return nil
}

// Close implements mmapio.File.
func (h *file) Close() error {
	if !h.closed.CompareAndSwap(false, true) {
		return mmapio.ErrClosed
	}
	h.fs.mu.Lock()
	h.ino.handles--
	h.fs.mu.Unlock()
	return nil
}

// Size implements mmapio.File: the working size.
func (h *file) Size() (int64, error) {
	if err := h.check("stat"); err != nil {
		return 0, err
	}
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	return h.ino.size, nil
}

// ReadAt implements mmapio.File, reading the working image.
func (h *file) ReadAt(p []byte, off int64) (int, error) {
	if err := h.check("read"); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, fmt.Errorf("crashfs: read %s at negative offset %d", h.name, off)
	}
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.fs.match(ReadEIO, h.name) != nil {
		return 0, injected("read", h.name, errEIO)
	}
	if off >= h.ino.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), h.ino.size-off))
	if err := readFull(h.ino, p[:n], off); err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// readFull reads exactly len(p) working bytes at off. The caller holds
// the FS lock.
func readFull(ino *inode, p []byte, off int64) error {
	if len(p) == 0 {
		return nil
	}
	if ino.back == nil {
		return fmt.Errorf("crashfs: inode %d used after FS Close", ino.id)
	}
	if _, err := ino.back.ReadAt(p, off); err != nil {
		return fmt.Errorf("crashfs: backing read: %w", err)
	}
	return nil
}

// WriteAt implements mmapio.File, changing the working image.
func (h *file) WriteAt(p []byte, off int64) (int, error) {
	if err := h.check("write"); err != nil {
		return 0, err
	}
	if !h.writable {
		return 0, fmt.Errorf("crashfs: write %s: opened read-only", h.name)
	}
	if off < 0 {
		return 0, fmt.Errorf("crashfs: write %s at negative offset %d", h.name, off)
	}
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("write", fmt.Sprintf("%s [%d,+%d)", h.name, off, len(p))); err != nil {
		return 0, err
	}
	n, failure := len(p), error(nil)
	if fl := f.match(WriteENOSPC, h.name); fl != nil {
		n, failure = min(n, max(fl.At, 0)), injected("write", h.name, errENOSPC)
	} else if fl := f.match(ShortWrite, h.name); fl != nil {
		n, failure = min(n, max(fl.At, 0)), injected("write", h.name, io.ErrShortWrite)
	}
	if grow := off + int64(n) - h.ino.size; grow > 0 && f.capacity > 0 {
		if room := f.capacity - f.usedLocked(); grow > room {
			n = int(max(0, h.ino.size+room-off))
			failure = fmt.Errorf("%w: write %s at %d: %w", ErrNoSpace, h.name, off+int64(n), errENOSPC)
		}
	}
	if n > 0 {
		if _, err := h.ino.back.WriteAt(p[:n], off); err != nil {
			return 0, fmt.Errorf("crashfs: backing write: %w", err)
		}
		h.ino.size = max(h.ino.size, off+int64(n))
	}
	return n, failure
}

// Allocate implements mmapio.File: the working size grows to size.
func (h *file) Allocate(size int64) error {
	if err := h.check("allocate"); err != nil {
		return err
	}
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("allocate", fmt.Sprintf("%s %d", h.name, size)); err != nil {
		return err
	}
	if f.match(AllocENOSPC, h.name) != nil {
		return injected("fallocate", h.name, errENOSPC)
	}
	if size <= h.ino.size {
		return nil
	}
	if f.capacity > 0 && size-h.ino.size > f.capacity-f.usedLocked() {
		return fmt.Errorf("%w: allocate %s to %d bytes: %w", ErrNoSpace, h.name, size, errENOSPC)
	}
	if err := h.ino.back.Truncate(size); err != nil {
		return fmt.Errorf("crashfs: backing resize: %w", err)
	}
	h.ino.size = size
	return nil
}

// Truncate implements mmapio.File.
func (h *file) Truncate(size int64) error {
	if err := h.check("truncate"); err != nil {
		return err
	}
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("truncate", fmt.Sprintf("%s %d", h.name, size)); err != nil {
		return err
	}
	if size < h.ino.size && h.ino.maps > 0 {
		return fmt.Errorf("%w: shrink %s from %d to %d", mmapio.ErrMapped, h.name, h.ino.size, size)
	}
	if err := h.ino.back.Truncate(size); err != nil {
		return fmt.Errorf("crashfs: backing resize: %w", err)
	}
	h.ino.size = size
	return nil
}

// Sync implements mmapio.File (fdatasync): the whole working image and its
// size become durable.
func (h *file) Sync() error {
	if err := h.check("sync"); err != nil {
		return err
	}
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin("fsync", h.name); err != nil {
		return err
	}
	if err := f.persistLocked(h.ino, h.name, 0, h.ino.size); err != nil {
		return err
	}
	if int64(len(h.ino.dur)) > h.ino.size {
		h.ino.dur = h.ino.dur[:h.ino.size]
	}
	return nil
}

// persistLocked copies working bytes [from, to) into the durable image,
// page by page, applying an armed sync fault. The caller holds f.mu.
func (f *FS) persistLocked(ino *inode, name string, from, to int64) error {
	to = min(to, ino.size)
	if to <= from {
		return nil
	}
	work := make([]byte, to-from)
	if err := readFull(ino, work, from); err != nil {
		return err
	}
	if fl := f.match(SyncEIO, name); fl != nil {
		// fsyncgate: the kernel drops the dirty state of the pages it
		// failed to write, so a later sync does not retry them.
		for p := from &^ (PageSize - 1); p < to; p += PageSize {
			lo, hi := max(p, from), min(p+PageSize, to)
			if lo == p && hi == p+PageSize && !bytes.Equal(work[lo-from:hi-from], durPage(ino, p)) {
				ino.lost[p] = bytes.Clone(work[lo-from : hi-from])
			}
		}
		return injected("sync", name, errEIO)
	}
	if int64(len(ino.dur)) < to {
		ino.dur = append(ino.dur, make([]byte, to-int64(len(ino.dur)))...)
	}
	misdirect := f.match(Misdirect, name)
	var stray []byte // the misdirected sector, written last
	var strayAt int64
	for p := from &^ (PageSize - 1); p < to; p += PageSize {
		lo, hi := max(p, from), min(p+PageSize, to)
		w := work[lo-from : hi-from]
		if lost, ok := ino.lost[p]; ok {
			if lo == p && hi == p+PageSize && bytes.Equal(lost, w) {
				continue // still clean in the kernel's eyes: not written
			}
			delete(ino.lost, p)
		}
		if misdirect != nil && stray == nil {
			if s, ok := firstChangedSector(ino.dur[lo:hi], w); ok {
				// The sector lands Shift bytes away; its own place
				// keeps the old bytes.
				sec := lo + s
				target := sec + misdirect.Shift
				if target < 0 || target+SectorSize > int64(len(ino.dur)) {
					target = sec - misdirect.Shift
				}
				if target >= 0 && target+SectorSize <= int64(len(ino.dur)) {
					old := bytes.Clone(ino.dur[sec : sec+SectorSize])
					copy(ino.dur[lo:hi], w)
					copy(ino.dur[sec:sec+SectorSize], old)
					stray, strayAt = work[sec-from:sec-from+SectorSize], target
					continue
				}
			}
		}
		copy(ino.dur[lo:hi], w)
	}
	if stray != nil {
		copy(ino.dur[strayAt:], stray)
	} else if misdirect != nil {
		misdirect.fired = false // nothing to misdirect: stay armed
	}
	return nil
}

// durPage returns the durable bytes of the page at p, zero-padded.
func durPage(ino *inode, p int64) []byte {
	out := make([]byte, PageSize)
	if p < int64(len(ino.dur)) {
		copy(out, ino.dur[p:])
	}
	return out
}

// firstChangedSector returns the offset within old of the first whole
// sector whose new bytes differ.
func firstChangedSector(old, new []byte) (int64, bool) {
	for s := 0; s+SectorSize <= len(new) && s+SectorSize <= len(old); s += SectorSize {
		if !bytes.Equal(old[s:s+SectorSize], new[s:s+SectorSize]) {
			return int64(s), true
		}
	}
	return 0, false
}

// Map implements mmapio.File. The mapping is of the working image itself;
// the file can grow under it without moving it, and cannot shrink under it.
func (h *file) Map(off int64, length int, writable bool) (mmapio.Mapping, error) {
	if err := h.check("map"); err != nil {
		return nil, err
	}
	page := int64(mmapio.PageSize())
	if off%page != 0 || off < 0 || length <= 0 {
		return nil, fmt.Errorf("crashfs: map %s [%d,+%d): offset not page-aligned or empty", h.name, off, length)
	}
	if writable && !h.writable {
		return nil, fmt.Errorf("crashfs: map %s writable: opened read-only", h.name)
	}
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if off+int64(length) > h.ino.size {
		return nil, fmt.Errorf("crashfs: map %s [%d,+%d): past end of file (%d bytes)", h.name, off, length, h.ino.size)
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

func (m *mapping) Bytes() []byte { return m.b }

// pages widens [off, off+n) of the mapping to page boundaries.
func (m *mapping) pages(off, n int) (int, int, error) {
	if m.b == nil {
		return 0, 0, mmapio.ErrClosed
	}
	if off < 0 || n < 0 || off+n > len(m.b) {
		return 0, 0, fmt.Errorf("crashfs: range [%d,+%d) outside mapping of %d bytes", off, n, len(m.b))
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
