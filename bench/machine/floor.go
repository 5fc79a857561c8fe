package machine

import (
	"errors"
	"fmt"
	"os"
)

// Floor is the floor of a durable call, measured beside a store: bytes
// written in place into a preallocated, already written file (as
// raft-boltdb rewrites its pages) with pwrite at an offset, then
// fdatasync. Over written blocks fdatasync has no extent or size to
// record, so this is the least a durable write of those bytes costs on the
// filesystem.
type Floor struct {
	f    *os.File
	size int64
	off  int64
}

// OpenFloor creates the floor file at path: size bytes reserved, written
// and synced before the first timed write.
func OpenFloor(path string, size int64) (*Floor, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	fl := &Floor{f: f, size: size}
	if err := fl.prepare(); err != nil {
		f.Close()
		return nil, fmt.Errorf("floor %s: %w", path, err)
	}
	return fl, nil
}

func (fl *Floor) prepare() error {
	if err := preallocate(fl.f, fl.size); err != nil && !errors.Is(err, errNoPrealloc) {
		return err
	}
	chunk := make([]byte, 1<<20)
	for off := int64(0); off < fl.size; off += int64(len(chunk)) {
		if _, err := fl.f.WriteAt(chunk[:min(int64(len(chunk)), fl.size-off)], off); err != nil {
			return err
		}
	}
	return fdatasync(fl.f)
}

// Write writes p at the next offset (wrapping to the start of the file)
// and fdatasyncs the file.
func (fl *Floor) Write(p []byte) error {
	if int64(len(p)) > fl.size {
		return fmt.Errorf("floor: %d bytes do not fit the %d-byte file", len(p), fl.size)
	}
	if fl.off+int64(len(p)) > fl.size {
		fl.off = 0
	}
	if _, err := fl.f.WriteAt(p, fl.off); err != nil {
		return err
	}
	fl.off += int64(len(p))
	return fdatasync(fl.f)
}

// Close closes the file (it stays where it is).
func (fl *Floor) Close() error { return fl.f.Close() }
