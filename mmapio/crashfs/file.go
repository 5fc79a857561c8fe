package crashfs

import (
	"fmt"
	"io"
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

var (
	_ mmapio.File        = (*file)(nil)
	_ mmapio.HolePuncher = (*file)(nil)
)

// Name implements mmapio.File.
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
		return 0, fmt.Errorf("%w: read %s at negative offset %d", ErrInvalid, h.name, off)
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
		return 0, fmt.Errorf("%w: write %s: opened read-only", ErrInvalid, h.name)
	}
	if off < 0 {
		return 0, fmt.Errorf("%w: write %s at negative offset %d", ErrInvalid, h.name, off)
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
	if fl := f.match(AllocENOSPC, h.name); fl != nil {
		return injected("fallocate", h.name, fl.errnoOr(errENOSPC))
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

// PunchHole implements mmapio.HolePuncher: the working bytes of [off,
// off+n) (within the working size) become zeros and the size is kept. Like
// a write, it changes the working image only: until a sync covers the
// range, a crash leaves each of its pages old or punched (and a page whose
// sectors the decider mixes, part of each). PunchFail faults it; SetPunch
// turns support off.
func (h *file) PunchHole(off, n int64) error {
	if err := h.check("punch"); err != nil {
		return err
	}
	if !h.writable {
		return fmt.Errorf("%w: punch %s: opened read-only", ErrInvalid, h.name)
	}
	if off < 0 || n < 0 {
		return fmt.Errorf("%w: punch %s [%d,+%d): negative range", ErrInvalid, h.name, off, n)
	}
	f := h.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noPunch {
		return fmt.Errorf("punch %s: %w", h.name, mmapio.ErrNoPunch)
	}
	if err := f.begin("punch", fmt.Sprintf("%s [%d,+%d)", h.name, off, n)); err != nil {
		return err
	}
	if fl := f.match(PunchFail, h.name); fl != nil {
		return injected("fallocate punch", h.name, fl.errnoOr(errEIO))
	}
	n = min(n, h.ino.size-off)
	if n <= 0 {
		return nil
	}
	if err := punchBacking(h.ino.back, off, n); err != nil {
		return fmt.Errorf("crashfs: backing punch: %w", err)
	}
	return nil
}
