package storetest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/spoolhq/spool/bench/store"
)

// Run runs the contract checks on spec, each as a subtest in its own
// directory.
func Run(t *testing.T, spec store.Spec) {
	t.Helper()
	t.Run("Empty", func(t *testing.T) { testEmpty(t, spec) })
	t.Run("StoreGet", func(t *testing.T) { testStoreGet(t, spec) })
	t.Run("Ownership", func(t *testing.T) { testOwnership(t, spec) })
	t.Run("DeletePrefix", func(t *testing.T) { testDeletePrefix(t, spec) })
	t.Run("DeleteSuffix", func(t *testing.T) { testDeleteSuffix(t, spec) })
	t.Run("Reopen", func(t *testing.T) { testReopen(t, spec) })
}

// Payload returns the deterministic data of entry i.
func Payload(i uint64) []byte {
	return fmt.Appendf(nil, "entry-%d-%s", i, bytes.Repeat([]byte{byte(i)}, int(i%97)))
}

func open(t *testing.T, spec store.Spec, dir string) store.Store {
	t.Helper()
	s, err := spec.Open(dir)
	if err != nil {
		t.Fatalf("open %s: %v", spec.Name, err)
	}
	return s
}

// storeRange stores entries [lo, hi] in batches of batch.
func storeRange(t *testing.T, s store.Store, lo, hi uint64, batch int) {
	t.Helper()
	var logs []*raft.Log
	flush := func() {
		if len(logs) == 0 {
			return
		}
		if err := s.StoreLogs(logs); err != nil {
			t.Fatalf("StoreLogs [%d..%d]: %v", logs[0].Index, logs[len(logs)-1].Index, err)
		}
		logs = logs[:0]
	}
	for i := lo; i <= hi; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1 + i/10, Type: raft.LogCommand, Data: Payload(i)})
		if len(logs) == batch {
			flush()
		}
	}
	flush()
}

func checkBounds(t *testing.T, s store.Store, first, last uint64) {
	t.Helper()
	f, err := s.FirstIndex()
	if err != nil || f != first {
		t.Errorf("FirstIndex = %d, %v; want %d", f, err, first)
	}
	l, err := s.LastIndex()
	if err != nil || l != last {
		t.Errorf("LastIndex = %d, %v; want %d", l, err, last)
	}
}

func checkEntry(t *testing.T, s store.Store, i uint64) {
	t.Helper()
	var l raft.Log
	if err := s.GetLog(i, &l); err != nil {
		t.Fatalf("GetLog(%d): %v", i, err)
	}
	if l.Index != i || l.Term != 1+i/10 || l.Type != raft.LogCommand || !bytes.Equal(l.Data, Payload(i)) {
		t.Fatalf("GetLog(%d) = index %d term %d type %v data %q", i, l.Index, l.Term, l.Type, l.Data)
	}
}

func checkMissing(t *testing.T, s store.Store, i uint64) {
	t.Helper()
	var l raft.Log
	// raft compares with ==: the error must not be wrapped.
	if err := s.GetLog(i, &l); err != raft.ErrLogNotFound {
		t.Fatalf("GetLog(%d) = %v; want raft.ErrLogNotFound", i, err)
	}
}

// checkGone checks entry i after a prefix delete. raft never reads below
// FirstIndex, and some stores (raft-wal) still serve entries of a deleted
// prefix that share a segment with live ones, so either answer is allowed:
// raft.ErrLogNotFound, or the entry's original contents.
func checkGone(t *testing.T, s store.Store, i uint64) {
	t.Helper()
	var l raft.Log
	err := s.GetLog(i, &l)
	if err == raft.ErrLogNotFound {
		return
	}
	if err != nil || l.Index != i || !bytes.Equal(l.Data, Payload(i)) {
		t.Fatalf("GetLog(%d) of a deleted entry = %v, index %d, data %q", i, err, l.Index, l.Data)
	}
}

func testEmpty(t *testing.T, spec store.Spec) {
	s := open(t, spec, t.TempDir())
	defer s.Close()
	checkBounds(t, s, 0, 0)
	checkMissing(t, s, 1)
}

func testStoreGet(t *testing.T, spec store.Spec) {
	s := open(t, spec, t.TempDir())
	defer s.Close()
	if err := s.StoreLog(&raft.Log{Index: 1, Term: 1, Type: raft.LogCommand, Data: Payload(1)}); err != nil {
		t.Fatalf("StoreLog: %v", err)
	}
	storeRange(t, s, 2, 100, 7)
	checkBounds(t, s, 1, 100)
	for i := uint64(1); i <= 100; i++ {
		checkEntry(t, s, i)
	}
	checkMissing(t, s, 0)
	checkMissing(t, s, 101)
}

// testOwnership checks that a store neither keeps the caller's buffer nor
// hands out memory that a later write changes.
func testOwnership(t *testing.T, spec store.Spec) {
	s := open(t, spec, t.TempDir())
	defer s.Close()
	buf := Payload(1)
	if err := s.StoreLogs([]*raft.Log{{Index: 1, Term: 1, Type: raft.LogCommand, Data: buf}}); err != nil {
		t.Fatal(err)
	}
	clear(buf)
	checkEntry(t, s, 1)
	var got raft.Log
	if err := s.GetLog(1, &got); err != nil {
		t.Fatal(err)
	}
	storeRange(t, s, 2, 50, 5)
	if !bytes.Equal(got.Data, Payload(1)) {
		t.Fatalf("GetLog data changed by later writes: %q", got.Data)
	}
}

func testDeletePrefix(t *testing.T, spec store.Spec) {
	s := open(t, spec, t.TempDir())
	defer s.Close()
	storeRange(t, s, 1, 200, 16)
	if err := s.DeleteRange(1, 120); err != nil {
		t.Fatalf("DeleteRange(1, 120): %v", err)
	}
	checkBounds(t, s, 121, 200)
	checkGone(t, s, 120)
	checkEntry(t, s, 121)
	checkEntry(t, s, 200)
	storeRange(t, s, 201, 210, 3)
	checkBounds(t, s, 121, 210)
	checkEntry(t, s, 210)
}

func testDeleteSuffix(t *testing.T, spec store.Spec) {
	s := open(t, spec, t.TempDir())
	defer s.Close()
	storeRange(t, s, 1, 100, 10)
	if err := s.DeleteRange(61, 100); err != nil {
		t.Fatalf("DeleteRange(61, 100): %v", err)
	}
	checkBounds(t, s, 1, 60)
	checkMissing(t, s, 61)
	checkEntry(t, s, 60)
	storeRange(t, s, 61, 70, 4) // raft rewrites the tail after a conflict
	checkBounds(t, s, 1, 70)
	checkEntry(t, s, 70)
}

func testReopen(t *testing.T, spec store.Spec) {
	dir := t.TempDir()
	s := open(t, spec, dir)
	storeRange(t, s, 1, 300, 32)
	if err := s.DeleteRange(1, 100); err != nil {
		t.Fatalf("DeleteRange(1, 100): %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = open(t, spec, dir)
	checkBounds(t, s, 101, 300)
	checkGone(t, s, 100)
	for i := uint64(101); i <= 300; i++ {
		checkEntry(t, s, i)
	}
	storeRange(t, s, 301, 310, 5)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = open(t, spec, dir)
	defer s.Close()
	checkBounds(t, s, 101, 310)
	checkEntry(t, s, 310)
}
