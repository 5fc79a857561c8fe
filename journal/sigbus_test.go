//go:build linux

package journal

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/spoolhq/spool/mmapio"
	"github.com/spoolhq/spool/stream"
)

// isFault reports whether err is the journal's report of a memory fault:
// typed (ErrCorrupt, with a CorruptError naming the file) and wrapping
// mmapio.ErrFault.
func isFault(t *testing.T, err error, path string) {
	t.Helper()
	var ce *CorruptError
	if !errors.Is(err, mmapio.ErrFault) || !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Path != path {
		t.Fatalf("got %v, want a CorruptError for %s wrapping mmapio.ErrFault", err, path)
	}
}

// TestSIGBUSContained truncates a mapped segment file behind the journal's
// back (as an operator or another process could; the journal itself never
// shrinks a mapped file) and reads the vanished pages through every read
// path: each returns a typed error and the process survives. The kernel
// raises a real SIGBUS for each access.
func TestSIGBUSContained(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, testOpts())
	defer closeOK(t, j)
	size := func(i uint64) int {
		if i == 45 {
			return 3 * testSegSize / 2 // starts in segment 2, ends in 4
		}
		return 1500
	}
	for i := uint64(1); i <= 100; i++ {
		if _, err := j.AppendBytes(payload(i, size(i))); err != nil {
			t.Fatal(err)
		}
	}
	// Pending seals are written and synced first: the journal's own writes
	// into a file truncated under it are not contained (see
	// docs/decisions.md), only its reads.
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	victim := j.segs.Load().find(5) // sealed and mapped
	idx := uint64(5)
	held, err := j.Get(idx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	spanning := uint64(45)
	if s := j.segs.Load().find(spanning); s == victim || s == j.active {
		t.Fatalf("entry %d starts in the victim or the active segment", spanning)
	}
	spanView, err := j.Get(spanning) // its middle lies in a later segment
	if err != nil {
		t.Fatal(err)
	}
	defer spanView.Release()

	if err := os.Truncate(victim.path, dataStart); err != nil {
		t.Fatal(err)
	}
	middle := j.segs.Load().next(j.segs.Load().find(spanning))
	if err := os.Truncate(middle.path, dataStart); err != nil {
		t.Fatal(err)
	}

	// A view taken before the truncation: copying out faults.
	if _, err := held.AppendTo(nil); err == nil {
		t.Fatal("AppendTo of a truncated entry succeeded")
	} else {
		isFault(t, err, victim.path)
	}
	// Reads after it: the header decode faults.
	if _, err := j.ReadBytes(idx+1, nil); err == nil {
		t.Fatal("ReadBytes succeeded")
	} else {
		isFault(t, err, victim.path)
	}
	called := false
	err = j.Read(idx+1, func(*stream.Reader) error { called = true; return nil })
	isFault(t, err, victim.path)
	if called {
		t.Fatal("Read called its callback for an unreadable entry")
	}
	if _, err := j.Get(idx + 1); err == nil {
		t.Fatal("Get succeeded")
	}
	it := j.Iter(victim.first)
	if it.Next() {
		t.Fatal("iterator returned a truncated entry")
	}
	isFault(t, it.Err(), victim.path)
	if err := it.Close(); err != nil {
		t.Fatalf("Iterator.Close after the fault: %v", err)
	}
	// A spanning entry whose middle segment was truncated: the
	// continuation's header and checksum are read under the guard.
	if _, err := spanView.AppendTo(nil); err == nil {
		t.Fatal("AppendTo of a spanning entry with a truncated middle succeeded")
	} else {
		isFault(t, err, middle.path)
	}
	if _, err := j.ReadBytes(spanning, nil); err == nil {
		t.Fatal("ReadBytes of the spanning entry succeeded")
	} else {
		isFault(t, err, middle.path)
	}

	// Bytes handed to the caller are the caller's to guard.
	b, ok := held.Bytes()
	if !ok {
		t.Fatal("not contiguous")
	}
	err = mmapio.Guard(func() error { _ = bytes.IndexByte(b, 0xAB); return nil })
	if !errors.Is(err, mmapio.ErrFault) {
		t.Fatalf("caller's guarded access: %v", err)
	}

	// Entries in untouched segments still read back.
	last := j.LastIndex()
	if got, err := j.ReadBytes(last, nil); err != nil || !bytes.Equal(got, payload(last, size(last))) {
		t.Fatalf("entry %d in an intact segment: %v", last, err)
	}
	// Verify, beside the open journal, reports the short file as Open would.
	rep, err := Verify(dir, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != VerdictCorrupt || rep.BadEntries == 0 {
		t.Fatalf("Verify: %v %v, %d bad entries", rep.Verdict, rep.Problem, rep.BadEntries)
	}
	t.Log(rep.Problem)
}

// TestTruncatedBeforeLoad truncates a sealed segment of a closed journal:
// the reopened journal loads it on first access, finds it shorter than its
// header says (read with pread, so no fault at all) and reports it.
func TestTruncatedBeforeLoad(t *testing.T) {
	dir := t.TempDir()
	j := mustOpen(t, dir, testOpts())
	for i := uint64(1); i <= 150; i++ {
		mustAppend(t, j, payload(i, 1500))
	}
	victim := j.segs.Load().segs[1]
	path, idx := victim.path, victim.first
	mustClose(t, j)
	if err := os.Truncate(path, dataStart); err != nil {
		t.Fatal(err)
	}
	j = mustOpen(t, dir, testOpts())
	defer closeOK(t, j)
	_, err := j.ReadBytes(idx, nil)
	var ce *CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) || ce.Path != path {
		t.Fatalf("read of a truncated segment: %v", err)
	}
}
