package mmapio_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/spoolhq/spool/mmapio"
)

func newMapped(t *testing.T, size int64) (mmapio.File, mmapio.Mapping, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	f, err := mmapio.OS.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Allocate(size); err != nil {
		t.Fatal(err)
	}
	m, err := f.Map(0, int(size), true)
	if err != nil {
		t.Fatal(err)
	}
	return f, m, path
}

func TestMapWriteSyncRead(t *testing.T) {
	size := int64(4 * mmapio.PageSize())
	f, m, _ := newMapped(t, size)
	defer f.Close()
	copy(m.Bytes()[100:], "hello")
	if err := m.Sync(100, 5); err != nil {
		t.Fatal(err)
	}
	for a := mmapio.AdviseNormal; a <= mmapio.AdviseWillWrite; a++ {
		if err := m.Advise(0, int(size), a); err != nil {
			t.Fatalf("advise %d: %v", a, err)
		}
	}
	got := make([]byte, 5)
	if _, err := f.ReadAt(got, 100); err != nil || string(got) != "hello" {
		t.Fatalf("ReadAt = %q, %v", got, err)
	}
	if n, _ := f.Size(); n != size {
		t.Fatalf("size %d after Allocate(%d)", n, size)
	}
	if err := f.Truncate(0); !errors.Is(err, mmapio.ErrMapped) {
		t.Fatalf("shrink while mapped: %v", err)
	}
	if err := m.Unmap(); err != nil {
		t.Fatal(err)
	}
	if err := m.Unmap(); !errors.Is(err, mmapio.ErrClosed) {
		t.Fatalf("double unmap: %v", err)
	}
	if err := f.Truncate(0); err != nil {
		t.Fatalf("shrink after unmap: %v", err)
	}
	if _, err := f.Map(1, 10, false); err == nil {
		t.Fatal("unaligned map accepted")
	}
}

func TestLockExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "LOCK")
	l, err := mmapio.OS.Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mmapio.OS.Lock(path); !errors.Is(err, mmapio.ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	l.Close()
	l, err = mmapio.OS.Lock(path)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l.Close()
}

// TestFaultContained truncates a file under its mapping (behind the seam's
// back, as another process could) and reads the vanished pages: the SIGBUS
// becomes an error wrapping ErrFault and the process survives.
func TestFaultContained(t *testing.T) {
	size := int64(2 * mmapio.PageSize())
	f, m, path := newMapped(t, size)
	defer f.Close()
	defer m.Unmap()
	copy(m.Bytes(), "data")
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 16)
	if _, err := mmapio.Copy(dst, m.Bytes()[mmapio.PageSize():]); !errors.Is(err, mmapio.ErrFault) {
		t.Fatalf("Copy from truncated mapping: %v", err)
	}
	err := mmapio.Guard(func() error {
		_ = bytes.IndexByte(m.Bytes(), 'x')
		return nil
	})
	if !errors.Is(err, mmapio.ErrFault) {
		t.Fatalf("Guard: %v", err)
	}
	// A panic that is not a fault passes through.
	defer func() {
		if r := recover(); r != "boom" {
			t.Fatalf("recovered %v", r)
		}
	}()
	_ = mmapio.Guard(func() error { panic("boom") })
}

func TestListRenameRemoveSyncDir(t *testing.T) {
	dir := t.TempDir()
	fs := mmapio.OS
	f, err := fs.Create(filepath.Join(dir, "b"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := fs.Create(filepath.Join(dir, "b")); !errors.Is(err, os.ErrExist) {
		t.Fatalf("create existing: %v", err)
	}
	if err := fs.Rename(filepath.Join(dir, "b"), filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if err := fs.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	names, err := fs.List(dir)
	if err != nil || len(names) != 1 || names[0] != "a" {
		t.Fatalf("List = %v, %v", names, err)
	}
	if err := fs.Remove(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
}

// TestFaultOf classifies recovered values: only a memory fault raised under
// SetPanicOnFault is one.
func TestFaultOf(t *testing.T) {
	var idx []int
	for _, r := range []any{"boom", errors.New("plain error"), nil} {
		if err := mmapio.FaultOf(r); err != nil {
			t.Errorf("FaultOf(%v) = %v, want nil", r, err)
		}
	}
	// A runtime error that carries no address (index out of range) is not
	// a fault either.
	func() {
		defer func() {
			if err := mmapio.FaultOf(recover()); err != nil {
				t.Errorf("FaultOf(index out of range) = %v, want nil", err)
			}
		}()
		_ = idx[len(idx)+1]
	}()
}
