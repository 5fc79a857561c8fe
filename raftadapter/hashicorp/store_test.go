package hashicorp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/spoolhq/spool/journal"
)

// The contract tests below follow what raft-boltdb's and raft-wal's own
// tests check (bolt_store_test.go, wal_test.go), adapted where the
// documented behaviour differs (noted at each place).

// smallSegments makes tests cross segment boundaries often.
const smallSegments = 64 << 10

func openStore(t testing.TB, dir string, opts *Options) *Store {
	t.Helper()
	if opts == nil {
		opts = &Options{JournalOptions: JournalOptions{SegmentSize: smallSegments}}
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testStore(t testing.TB) *Store { return openStore(t, t.TempDir(), nil) }

func testLog(idx uint64, data string) *raft.Log {
	return &raft.Log{Index: idx, Term: idx/10 + 1, Type: raft.LogCommand, Data: []byte(data)}
}

// makeLogs returns n entries from index start, with every field set on
// some of them.
func makeLogs(start, n uint64) []*raft.Log {
	logs := make([]*raft.Log, 0, n)
	base := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	for i := start; i < start+n; i++ {
		l := &raft.Log{Index: i, Term: i/7 + 1, Type: raft.LogType(i % 6), Data: []byte(fmt.Sprintf("Log entry %d", i))}
		if i%3 != 0 {
			l.AppendedAt = base.Add(time.Duration(i) * time.Millisecond)
		}
		if i%5 == 0 {
			l.Extensions = []byte(fmt.Sprintf("ext-%d", i))
		}
		if i%11 == 0 {
			l.Data = nil
		}
		logs = append(logs, l)
	}
	return logs
}

// sameLog compares the fields raft stores. Empty and nil slices are equal
// (GetLog returns nil for empty ones), and times are compared with Equal
// (GetLog's has the local zone and no monotonic reading).
func sameLog(a, b *raft.Log) error {
	switch {
	case a.Index != b.Index, a.Term != b.Term, a.Type != b.Type:
		return fmt.Errorf("index/term/type %d/%d/%v != %d/%d/%v", a.Index, a.Term, a.Type, b.Index, b.Term, b.Type)
	case !bytes.Equal(a.Data, b.Data):
		return fmt.Errorf("entry %d: data %q != %q", a.Index, a.Data, b.Data)
	case !bytes.Equal(a.Extensions, b.Extensions):
		return fmt.Errorf("entry %d: extensions %q != %q", a.Index, a.Extensions, b.Extensions)
	case !a.AppendedAt.Equal(b.AppendedAt) || a.AppendedAt.IsZero() != b.AppendedAt.IsZero():
		return fmt.Errorf("entry %d: appended at %v != %v", a.Index, a.AppendedAt, b.AppendedAt)
	}
	return nil
}

func checkLogs(t testing.TB, s *Store, want []*raft.Log) {
	t.Helper()
	for _, w := range want {
		var got raft.Log
		if err := s.GetLog(w.Index, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", w.Index, err)
		}
		if err := sameLog(&got, w); err != nil {
			t.Fatal(err)
		}
	}
}

func checkRange(t testing.TB, s *Store, first, last uint64) {
	t.Helper()
	f, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	if f != first || l != last {
		t.Fatalf("range [%d, %d], want [%d, %d]", f, l, first, last)
	}
	var log raft.Log
	if first > 0 {
		if err := s.GetLog(first-1, &log); err != raft.ErrLogNotFound {
			t.Fatalf("GetLog(first-1 = %d) = %v, want raft.ErrLogNotFound", first-1, err)
		}
	}
	if err := s.GetLog(last+1, &log); err != raft.ErrLogNotFound {
		t.Fatalf("GetLog(last+1 = %d) = %v, want raft.ErrLogNotFound", last+1, err)
	}
}

// TestFirstLastIndex: 0 on an empty log (both stores' tests), then the
// stored range.
func TestFirstLastIndex(t *testing.T) {
	s := testStore(t)
	checkRange(t, s, 0, 0)
	if err := s.StoreLogs([]*raft.Log{testLog(1, "log1"), testLog(2, "log2"), testLog(3, "log3")}); err != nil {
		t.Fatal(err)
	}
	checkRange(t, s, 1, 3)
}

// TestGetLog: raft.ErrLogNotFound, compared with ==, for a missing entry;
// every field round-trips.
func TestGetLog(t *testing.T) {
	s := testStore(t)
	var log raft.Log
	for _, idx := range []uint64{0, 1, 2, 1 << 63} {
		if err := s.GetLog(idx, &log); err != raft.ErrLogNotFound {
			t.Fatalf("GetLog(%d) on empty store: %v, want raft.ErrLogNotFound unwrapped", idx, err)
		}
	}
	logs := makeLogs(1, 200)
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	checkLogs(t, s, logs)
	checkRange(t, s, 1, 200)

	// A time outside UnixNano's range and the Unix epoch itself.
	odd := []*raft.Log{
		{Index: 201, Term: 9, AppendedAt: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)},
		{Index: 202, Term: 9, AppendedAt: time.Unix(0, 0)},
		{Index: 203, Term: 1 << 62, Type: raft.LogConfiguration, AppendedAt: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), Data: bytes.Repeat([]byte{0xfe}, 100_000)},
	}
	if err := s.StoreLogs(odd); err != nil {
		t.Fatal(err)
	}
	checkLogs(t, s, odd)
}

// TestGetLogOwnership: raft keeps Log.Data (FSM, LogCache, pipelines), so
// GetLog must return memory the caller owns: later writes, truncations and
// Close must not change it, and appending to Data must not overwrite
// Extensions.
func TestGetLogOwnership(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, nil)
	logs := makeLogs(1, 50)
	logs[9].Extensions = []byte("extensions")
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	kept := make([]raft.Log, len(logs))
	for i := range kept {
		if err := s.GetLog(uint64(i+1), &kept[i]); err != nil {
			t.Fatal(err)
		}
	}
	d := append(kept[9].Data, "more"...)
	_ = d
	if string(kept[9].Extensions) != "extensions" {
		t.Fatalf("appending to Data changed Extensions: %q", kept[9].Extensions)
	}
	if err := s.DeleteRange(1, 25); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(40, 50); err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs(makeLogs(40, 500)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range kept {
		if err := sameLog(&kept[i], logs[i]); err != nil {
			t.Fatalf("kept entry changed: %v", err)
		}
	}
}

// TestStoreLog stores one entry (raft-boltdb's TestBoltStore_SetLog).
func TestStoreLog(t *testing.T) {
	s := testStore(t)
	log := &raft.Log{Data: []byte("log1"), Index: 1}
	if err := s.StoreLog(log); err != nil {
		t.Fatal(err)
	}
	checkLogs(t, s, []*raft.Log{log})
	checkRange(t, s, 1, 1)
}

// TestStoreLogs follows raft-wal's TestStoreLogs cases.
func TestStoreLogs(t *testing.T) {
	cases := []struct {
		name          string
		existing      [2]uint64 // first, count of entries already there
		store, store2 []*raft.Log
		wantErr       error
		first, last   uint64
	}{
		{name: "empty log append", store: makeLogs(1, 5), first: 1, last: 5},
		{name: "empty log append, start from non-zero", store: makeLogs(10000, 5), first: 10000, last: 10004},
		{name: "existing log append", existing: [2]uint64{1, 10}, store: makeLogs(11, 5), first: 1, last: 15},
		{name: "existing log append across segments", existing: [2]uint64{1, 3000}, store: makeLogs(3001, 3000), first: 1, last: 6000},
		{name: "out of order", existing: [2]uint64{1, 10}, store: makeLogs(100, 5), wantErr: ErrNonMonotonic},
		{name: "overlap", existing: [2]uint64{1, 10}, store: makeLogs(10, 5), wantErr: ErrNonMonotonic},
		{name: "out of sequence", existing: [2]uint64{1, 9}, store: []*raft.Log{testLog(10, "a"), testLog(11, "b"), testLog(14, "c")}, wantErr: ErrNonMonotonic},
		{name: "append more", existing: [2]uint64{1, 99}, store: makeLogs(100, 5), store2: makeLogs(105, 5), first: 1, last: 109},
		{name: "empty start high and append more", store: makeLogs(100, 101), store2: makeLogs(201, 5), first: 100, last: 205},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, nil)
			var before []*raft.Log
			if tc.existing[1] > 0 {
				before = makeLogs(tc.existing[0], tc.existing[1])
				if err := s.StoreLogs(before); err != nil {
					t.Fatal(err)
				}
			}
			err := s.StoreLogs(tc.store)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), "non-monotonic log entries") {
					t.Fatalf("StoreLogs: %v, want %v", err, tc.wantErr)
				}
				// The log is unchanged.
				checkRange(t, s, tc.existing[0], tc.existing[0]+tc.existing[1]-1)
				checkLogs(t, s, before)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.store2 != nil {
				if err := s.StoreLogs(tc.store2); err != nil {
					t.Fatal(err)
				}
			}
			all := append(append(before, tc.store...), tc.store2...)
			check := func(s *Store) {
				checkRange(t, s, tc.first, tc.last)
				checkLogs(t, s, all)
			}
			check(s)
			// And after a reopen.
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			check(openStore(t, dir, nil))
		})
	}
}

// TestDeleteRange follows raft-wal's TestDeleteRange cases (the log is
// [1000, 1109] over several segments) and raft-boltdb's
// TestBoltStore_DeleteRange. After each deletion the store is checked,
// reopened, checked again, and appended to.
func TestDeleteRange(t *testing.T) {
	const first, last = 1000, 1109
	cases := []struct {
		name               string
		min, max           uint64
		wantErr            error
		wantFirst, wantEnd uint64 // FirstIndex, LastIndex; 0,0: empty
	}{
		{name: "no-op empty range", min: 1000, max: 999, wantFirst: first, wantEnd: last},
		{name: "no-op before the head", min: 0, max: 100, wantFirst: first, wantEnd: last},
		{name: "no-op after the tail", min: 5000, max: 5100, wantFirst: first, wantEnd: last},
		{name: "error: middle", min: 1010, max: 1020, wantErr: ErrMiddleRange},
		{name: "head truncation from 0", min: 0, max: 1010, wantFirst: 1011, wantEnd: last},
		{name: "head truncation from first", min: 1000, max: 1101, wantFirst: 1102, wantEnd: last},
		{name: "head truncation of one", min: 1000, max: 1000, wantFirst: 1001, wantEnd: last},
		{name: "head truncation of all", min: 1000, max: last},
		{name: "tail truncation of two", min: last - 1, max: last, wantFirst: first, wantEnd: last - 2},
		{name: "tail truncation of one", min: last, max: last, wantFirst: first, wantEnd: last - 1},
		{name: "tail truncation past the end", min: 1051, max: 1 << 40, wantFirst: first, wantEnd: 1050},
		{name: "everything", min: 1, max: 1 << 63},
		{name: "everything to max uint64", min: 0, max: ^uint64(0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, &Options{JournalOptions: JournalOptions{SegmentSize: smallSegments}})
			logs := makeLogs(first, last-first+1)
			for i := range logs {
				logs[i].Data = bytes.Repeat([]byte{byte(i)}, 1500) // several segments
			}
			if err := s.StoreLogs(logs); err != nil {
				t.Fatal(err)
			}
			err := s.DeleteRange(tc.min, tc.max)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("DeleteRange: %v, want %v", err, tc.wantErr)
				}
				checkRange(t, s, first, last)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			check := func(s *Store) {
				checkRange(t, s, tc.wantFirst, tc.wantEnd)
				if tc.wantEnd > 0 {
					checkLogs(t, s, logs[tc.wantFirst-first:tc.wantEnd-first+1])
				}
			}
			check(s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, dir, nil)
			check(s)
			// Appending continues the log, or restarts an empty one
			// anywhere.
			next := tc.wantEnd + 1
			if tc.wantEnd == 0 {
				next = 77
			}
			more := makeLogs(next, 3)
			if err := s.StoreLogs(more); err != nil {
				t.Fatal(err)
			}
			checkLogs(t, s, more)
			if tc.wantEnd == 0 {
				checkRange(t, s, 77, 79)
			} else {
				checkRange(t, s, tc.wantFirst, next+2)
			}
		})
	}
}

// TestEmptyLogAcceptsAnyFirstIndex: after raft empties a monotonic store
// (snapshot install or restore) the next StoreLogs may start anywhere,
// below or above the old log.
func TestEmptyLogAcceptsAnyFirstIndex(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, nil)
	for round, start := range []uint64{5, 500, 50, 1 << 40, 2} {
		logs := makeLogs(start, 10)
		if err := s.StoreLogs(logs); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		checkRange(t, s, start, start+9)
		checkLogs(t, s, logs)
		f, _ := s.FirstIndex()
		l, _ := s.LastIndex()
		if err := s.DeleteRange(f, l); err != nil {
			t.Fatal(err)
		}
		checkRange(t, s, 0, 0)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openStore(t, dir, nil)
		checkRange(t, s, 0, 0)
	}
}

// TestStable follows raft-wal's TestStable and TestStableRecovery, and
// raft-boltdb's Set/Get tests except for the missing key, which reads as
// (nil, nil) and (0, nil) here (raft-wal's convention).
func TestStable(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, nil)
	got, err := s.Get([]byte("test"))
	if err != nil || got != nil {
		t.Fatalf("Get(missing) = %q, %v; want nil, nil", got, err)
	}
	n, err := s.GetUint64([]byte("testInt"))
	if err != nil || n != 0 {
		t.Fatalf("GetUint64(missing) = %d, %v; want 0, nil", n, err)
	}
	if err := s.Set([]byte("test"), []byte("foo")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("testInt"), 1234); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("empty"), nil); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		got, err := s.Get([]byte("test"))
		if err != nil || string(got) != "foo" {
			t.Fatalf("Get = %q, %v", got, err)
		}
		got[0] = 'X' // a copy: does not change the store
		if got, _ := s.Get([]byte("test")); string(got) != "foo" {
			t.Fatalf("Get returned the store's memory")
		}
		n, err := s.GetUint64([]byte("testInt"))
		if err != nil || n != 1234 {
			t.Fatalf("GetUint64 = %d, %v", n, err)
		}
		if got, err := s.Get([]byte("empty")); err != nil || got == nil || len(got) != 0 {
			t.Fatalf("Get(empty) = %#v, %v; want empty non-nil", got, err)
		}
		if _, err := s.GetUint64([]byte("test")); !errors.Is(err, ErrNotUint64) {
			t.Fatalf("GetUint64 of a 3-byte value: no error")
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openStore(t, dir, nil))
}

// TestStableRaftSemantics runs raft's own "not found" checks (api.go,
// raft.go: err != nil && err.Error() != "not found") against a fresh store.
func TestStableRaftSemantics(t *testing.T) {
	s := testStore(t)
	fss := s.Snapshots()
	ok, err := raft.HasExistingState(s, s, fss)
	if err != nil || ok {
		t.Fatalf("HasExistingState = %v, %v on a new store", ok, err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 3); err != nil {
		t.Fatal(err)
	}
	if ok, err := raft.HasExistingState(s, s, fss); err != nil || !ok {
		t.Fatalf("HasExistingState = %v, %v after a term", ok, err)
	}
}

func TestStableLimits(t *testing.T) {
	s := testStore(t)
	if err := s.Set(nil, []byte("x")); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal("empty key accepted")
	}
	if err := s.Set(bytes.Repeat([]byte("k"), MaxStableKeySize+1), []byte("x")); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal("long key accepted")
	}
	if err := s.Set(bytes.Repeat([]byte("k"), MaxStableKeySize), []byte("x")); err != nil {
		t.Fatal(err)
	}
	// More than the journal's meta store could hold: the stable file's.
	if err := s.Set([]byte("big"), make([]byte, journal.MaxMetaSize)); err != nil {
		t.Fatalf("value of journal.MaxMetaSize bytes: %v", err)
	}
	err := s.Set([]byte("huge"), make([]byte, DefaultMaxStableValueSize+1))
	if !errors.Is(err, ErrStableValueTooLarge) {
		t.Fatalf("oversized value: %v, want ErrStableValueTooLarge", err)
	}
	// A realistic LastVoteCand (a server address) fits many times over.
	for i := range 10 {
		if err := s.Set([]byte(fmt.Sprintf("LastVoteCand%d", i)), bytes.Repeat([]byte("a"), 255)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCommitTracking: the staged commit index is persisted with the next
// StoreLogs only, read back from the last entry, capped at LastIndex.
func TestCommitTracking(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, nil)
	get := func(s *Store) uint64 {
		t.Helper()
		c, err := s.GetCommitIndex()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := get(s); c != 0 {
		t.Fatalf("empty store: commit %d", c)
	}
	if err := s.StoreLogs(makeLogs(1, 10)); err != nil {
		t.Fatal(err)
	}
	if c := get(s); c != 0 {
		t.Fatalf("nothing staged: commit %d", c)
	}
	_ = s.StageCommitIndex(8)
	if c := get(s); c != 0 {
		t.Fatalf("staged but not stored: commit %d", c)
	}
	if err := s.StoreLogs(makeLogs(11, 5)); err != nil {
		t.Fatal(err)
	}
	if c := get(s); c != 8 {
		t.Fatalf("commit %d, want 8", c)
	}
	_ = s.StageCommitIndex(100) // beyond the log: capped
	if err := s.StoreLogs(makeLogs(16, 5)); err != nil {
		t.Fatal(err)
	}
	if c := get(s); c != 20 {
		t.Fatalf("commit %d, want 20 (capped)", c)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, nil)
	if c := get(s); c != 20 {
		t.Fatalf("after reopen: commit %d, want 20", c)
	}
	if err := s.DeleteRange(18, 20); err != nil {
		t.Fatal(err)
	}
	if c := get(s); c != 17 {
		t.Fatalf("after tail truncation: commit %d, want 17", c)
	}
	if err := s.DeleteRange(1, 17); err != nil {
		t.Fatal(err)
	}
	if c := get(s); c != 0 {
		t.Fatalf("empty: commit %d", c)
	}
}

// TestConcurrentReadersAndWriter follows raft-wal's test of the same name:
// an appender that also truncates its tail, a compactor truncating the
// head from another goroutine, and readers, under the race detector.
func TestConcurrentReadersAndWriter(t *testing.T) {
	s := testStore(t)
	// The test runs until every goroutine has made enough progress (and
	// at least minDur has passed), not for a fixed window: on a busy
	// machine a fixed window can end before the compactor or a reader
	// has run at all. stallLimit only guards against a hang.
	minDur := 2 * time.Second
	if testing.Short() {
		minDur = 300 * time.Millisecond
	}
	const (
		wantReads       = 200
		wantCompactions = 3
		stallLimit      = 2 * time.Minute
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failure error
	fail := func(err error) {
		mu.Lock()
		if failure == nil {
			failure = err
		}
		mu.Unlock()
		cancel()
	}
	entry := func(i uint64) *raft.Log {
		return &raft.Log{Index: i, Term: 1, Data: []byte(fmt.Sprintf("Log entry %d", i))}
	}
	var compactions atomic.Int64
	var good [4]atomic.Int64
	wg.Add(1)
	go func() { // appender
		defer wg.Done()
		for index := uint64(1000); ctx.Err() == nil; index++ {
			if err := s.StoreLogs([]*raft.Log{entry(index)}); err != nil {
				fail(fmt.Errorf("append %d: %w", index, err))
				return
			}
			if index%109 == 0 {
				if err := s.DeleteRange(index, index); err != nil {
					fail(err)
					return
				}
				if last, _ := s.LastIndex(); last != index-1 {
					fail(fmt.Errorf("tail truncation: last %d, want %d", last, index-1))
					return
				}
				if err := s.StoreLogs([]*raft.Log{entry(index)}); err != nil {
					fail(err)
					return
				}
			}
		}
	}()
	wg.Add(1)
	go func() { // compactor
		defer wg.Done()
		for ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
			last, _ := s.LastIndex()
			if last < 1100 {
				continue
			}
			if err := s.DeleteRange(0, last-100); err != nil {
				fail(err)
				return
			}
			if first, _ := s.FirstIndex(); first < last-99 {
				fail(fmt.Errorf("head truncation: first %d, want >= %d", first, last-99))
				return
			}
			compactions.Add(1)
		}
	}()
	for r := range 4 {
		wg.Add(1)
		go func() { // readers
			defer wg.Done()
			var log raft.Log
			for ctx.Err() == nil {
				first, _ := s.FirstIndex()
				last, _ := s.LastIndex()
				for _, idx := range []uint64{first, first + (last-first)/2, last} {
					err := s.GetLog(idx, &log)
					if err == raft.ErrLogNotFound {
						continue
					}
					if err != nil {
						fail(fmt.Errorf("GetLog(%d): %w", idx, err))
						return
					}
					if log.Index != idx || string(log.Data) != fmt.Sprintf("Log entry %d", idx) {
						fail(fmt.Errorf("GetLog(%d) returned entry %d %q", idx, log.Index, log.Data))
						return
					}
					good[r].Add(1)
				}
			}
		}()
	}
	progress := func() int64 {
		n := compactions.Load()
		for r := range good {
			n += good[r].Load()
		}
		return n
	}
	enough := func() bool {
		if compactions.Load() < wantCompactions {
			return false
		}
		for r := range good {
			if good[r].Load() < wantReads {
				return false
			}
		}
		return true
	}
	start := time.Now()
	lastProgress, lastChange := progress(), time.Now()
	for ctx.Err() == nil && (time.Since(start) < minDur || !enough()) {
		time.Sleep(10 * time.Millisecond)
		if p := progress(); p != lastProgress {
			lastProgress, lastChange = p, time.Now()
		} else if time.Since(lastChange) > stallLimit {
			fail(fmt.Errorf("no progress for %v: %d compactions, reads %d %d %d %d", stallLimit,
				compactions.Load(), good[0].Load(), good[1].Load(), good[2].Load(), good[3].Load()))
		}
	}
	cancel()
	wg.Wait()
	if failure != nil {
		t.Fatal(failure)
	}
	if !enough() {
		t.Fatalf("stopped before enough progress: %d compactions, reads %d %d %d %d",
			compactions.Load(), good[0].Load(), good[1].Load(), good[2].Load(), good[3].Load())
	}
}

// TestCrashImages copies the store's directory at several points while it
// is open (the state a killed process leaves: what was written to the
// mapped pages and files), opens each copy and checks the log and the
// stable keys: every acknowledged StoreLogs and DeleteRange, nothing
// removed reappearing.
func TestCrashImages(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, nil)
	type image struct {
		dir         string
		first, last uint64
		term        uint64
		replaced    bool // entries 900-1099 are repl's
	}
	var images []image
	replaced := false
	snap := func(first, last, term uint64) {
		d := t.TempDir()
		copyDir(t, dir, d)
		images = append(images, image{d, first, last, term, replaced})
	}
	all := makeLogs(1, 3000)
	for i := range all {
		all[i].Data = bytes.Repeat([]byte{byte(i)}, 100+i%300)
	}
	if err := s.StoreLogs(all[:1000]); err != nil {
		t.Fatal(err)
	}
	_ = s.SetUint64([]byte("CurrentTerm"), 5)
	snap(1, 1000, 5)
	if err := s.DeleteRange(1, 400); err != nil { // compaction
		t.Fatal(err)
	}
	snap(401, 1000, 5)
	if err := s.DeleteRange(900, 1000); err != nil { // conflict
		t.Fatal(err)
	}
	snap(401, 899, 5)
	// New entries at the same indexes, with other contents, lining up
	// with the removed ones.
	repl := makeLogs(900, 200)
	for i := range repl {
		repl[i].Term = 99
		repl[i].Data = bytes.Repeat([]byte{0xAB}, 100+(i+899)%300)
	}
	if err := s.StoreLogs(repl); err != nil {
		t.Fatal(err)
	}
	replaced = true
	_ = s.SetUint64([]byte("CurrentTerm"), 99)
	snap(401, 1099, 99)
	if err := s.DeleteRange(401, 1099); err != nil { // everything
		t.Fatal(err)
	}
	snap(0, 0, 99)
	if err := s.StoreLogs(all[2000:2100]); err != nil {
		t.Fatal(err)
	}
	snap(2001, 2100, 99)

	want := func(im image, idx uint64) *raft.Log {
		if im.replaced && idx >= 900 && idx < 1100 {
			return repl[idx-900]
		}
		return all[idx-1]
	}
	for i, im := range images {
		c, err := Open(im.dir, &Options{JournalOptions: JournalOptions{SegmentSize: smallSegments}})
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		checkRange(t, c, im.first, im.last)
		for idx := im.first; idx <= im.last && im.last > 0; idx++ {
			var got raft.Log
			if err := c.GetLog(idx, &got); err != nil {
				t.Fatalf("image %d: GetLog(%d): %v", i, idx, err)
			}
			if err := sameLog(&got, want(im, idx)); err != nil {
				t.Fatalf("image %d: %v", i, err)
			}
		}
		if term, err := c.GetUint64([]byte("CurrentTerm")); err != nil || term != im.term {
			t.Fatalf("image %d: CurrentTerm %d, %v; want %d", i, term, err, im.term)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// copyDir copies the regular files of src (recursively) into dst, except
// the lock file.
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if fi.Name() == "LOCK" {
			return nil
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestForeignJournal: a journal that this package did not write is
// refused rather than misread.
func TestForeignJournal(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.AppendBytes([]byte("not a raft log")); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); !errors.Is(err, ErrForeignJournal) || !errors.Is(err, journal.ErrForeign) {
		t.Fatalf("Open of a foreign journal: %v", err)
	}
}

// TestEntryFormatErrors: an entry of a newer version or with unknown flags
// is reported, not misread.
func TestEntryFormatErrors(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, nil)
	if err := s.StoreLogs(makeLogs(1, 2)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = j.AppendBytes([]byte{2, 1, 0, 0})       // version 2
	_, _ = j.AppendBytes([]byte{1, 1, 0, 0x80})    // unknown flag
	_, _ = j.AppendBytes([]byte{1, 1, 0, 2, 9, 1}) // extensions longer than the entry
	_, _ = j.AppendBytes([]byte{1})                // truncated
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, nil)
	for idx := uint64(3); idx <= 6; idx++ {
		var log raft.Log
		if err := s.GetLog(idx, &log); !errors.Is(err, ErrEntryFormat) {
			t.Fatalf("GetLog(%d): %v, want ErrEntryFormat", idx, err)
		}
	}
	if _, err := s.GetCommitIndex(); !errors.Is(err, ErrEntryFormat) {
		t.Fatalf("GetCommitIndex: %v", err)
	}
}

// TestClosed follows raft-wal's TestClose: after Close every method,
// Close itself included, returns an error wrapping journal.ErrClosed (the
// etcd adapter's and the journal's rule).
func TestClosed(t *testing.T) {
	s := testStore(t)
	if err := s.StoreLogs(makeLogs(1, 3)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, journal.ErrClosed) {
		t.Fatalf("second Close: %v, want journal.ErrClosed", err)
	}
	var log raft.Log
	second := func(_ any, err error) error { return err }
	for name, err := range map[string]error{
		"FirstIndex":     second(s.FirstIndex()),
		"LastIndex":      second(s.LastIndex()),
		"GetLog":         s.GetLog(1, &log),
		"StoreLog":       s.StoreLog(makeLogs(4, 1)[0]),
		"StoreLogs":      s.StoreLogs(makeLogs(4, 1)),
		"DeleteRange":    s.DeleteRange(1, 1),
		"GetCommitIndex": second(s.GetCommitIndex()),
		"Set":            s.Set([]byte("k"), []byte("v")),
		"Get":            second(s.Get([]byte("k"))),
		"SetUint64":      s.SetUint64([]byte("k"), 1),
		"GetUint64":      second(s.GetUint64([]byte("k"))),
	} {
		if !errors.Is(err, journal.ErrClosed) {
			t.Errorf("%s after Close: %v, want journal.ErrClosed", name, err)
		}
	}
}

// TestGetLogAllocs: GetLog allocates once, for the slice holding Data and
// Extensions together, and not at all for an entry with neither or for a
// missing one. (An entry spanning segments costs the journal's reader
// more, from a sync.Pool that the race detector empties at random; it is
// only logged.)
func TestGetLogAllocs(t *testing.T) {
	if journal.DebugChecks {
		t.Skip("spooldebug build: the journal's debug checks allocate")
	}
	s := testStore(t)
	logs := []*raft.Log{
		{Index: 1, Term: 1, Data: make([]byte, 128), AppendedAt: time.Now()},
		{Index: 2, Term: 1, Data: make([]byte, 1024), Extensions: []byte("extensions")},
		{Index: 3, Term: 1, Type: raft.LogNoop},
		{Index: 4, Term: 1, Data: bytes.Repeat([]byte{7}, 3*smallSegments)}, // spans segments
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		idx  uint64
		want float64
	}{{1, 1}, {2, 1}, {3, 0}, {4, -1}} {
		var log raft.Log
		got := testing.AllocsPerRun(200, func() {
			if err := s.GetLog(tc.idx, &log); err != nil {
				t.Fatal(err)
			}
		})
		if tc.want < 0 {
			t.Logf("GetLog of an entry spanning 4 segments: %v allocations", got)
		} else if got != tc.want {
			t.Errorf("GetLog(%d): %v allocations, want %v", tc.idx, got, tc.want)
		}
		if err := sameLog(&log, logs[tc.idx-1]); err != nil {
			t.Fatal(err)
		}
	}
	var log raft.Log
	if got := testing.AllocsPerRun(200, func() { _ = s.GetLog(99, &log) }); got != 0 {
		t.Errorf("GetLog of a missing entry: %v allocations", got)
	}
}

// TestSecondOpenLocked: two Stores never share a directory.
func TestSecondOpenLocked(t *testing.T) {
	dir := t.TempDir()
	_ = openStore(t, dir, nil)
	if s, err := Open(dir, nil); err == nil {
		s.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
}

// FuzzDecodeEntry: no payload makes decoding panic or allocate more than
// the payload's size, and an entry that decodes encodes to one that
// decodes to the same fields.
func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte{1, 1, 0, 0, 'x'})
	f.Add([]byte{1, 5, 3, 7, 2, 0, 3, 1, 'e', 'd'})
	f.Add([]byte{2})
	for _, l := range makeLogs(9, 3) {
		f.Add(encodeBytes(l, 5))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		var log raft.Log
		commit, err := decodeInto(newBytesReader(p), &log)
		if err != nil {
			return
		}
		if len(log.Data)+len(log.Extensions) > len(p) {
			t.Fatalf("decoded %d+%d bytes from %d", len(log.Data), len(log.Extensions), len(p))
		}
		var again raft.Log
		commit2, err := decodeInto(newBytesReader(encodeBytes(&log, commit)), &again)
		if err != nil {
			t.Fatalf("re-encoded entry does not decode: %v", err)
		}
		if err := sameLog(&again, &log); err != nil || commit2 != commit {
			t.Fatalf("round trip: %v, commit %d != %d", err, commit2, commit)
		}
	})
}

// TestInvalidArguments: arguments outside their documented range return
// errors wrapping ErrInvalidArgument, and change nothing.
func TestInvalidArguments(t *testing.T) {
	if _, err := Open(t.TempDir(), &Options{SnapshotRetain: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Open with SnapshotRetain -1: %v", err)
	}
	if _, err := NewSnapshotStore(t.TempDir(), 0, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("NewSnapshotStore with retain 0: %v", err)
	}
	s := testStore(t)
	if err := s.StoreLogs([]*raft.Log{testLog(1, "a"), nil}); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("StoreLogs with a nil log: %v", err)
	}
	if err := s.StoreLogs([]*raft.Log{testLog(0, "a")}); !errors.Is(err, ErrNonMonotonic) {
		t.Errorf("StoreLogs of index 0: %v", err)
	}
	if _, err := s.Get(make([]byte, MaxStableKeySize+1)); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("Get of a long key: %v", err)
	}
	checkRange(t, s, 0, 0)
}

// TestStoreLogsAtomic: a batch with an entry over Options.MaxEntrySize
// fails with journal.ErrTooLarge and stores none of its entries, even
// those before the large one; the store stays usable.
func TestStoreLogsAtomic(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, &Options{JournalOptions: JournalOptions{SegmentSize: smallSegments, MaxEntrySize: 4096}})
	if err := s.StoreLogs(makeLogs(1, 10)); err != nil {
		t.Fatal(err)
	}
	batch := makeLogs(11, 5)
	batch[3].Data = make([]byte, 5000)
	if err := s.StoreLogs(batch); !errors.Is(err, journal.ErrTooLarge) {
		t.Fatalf("StoreLogs with an oversized entry: %v, want journal.ErrTooLarge", err)
	}
	checkRange(t, s, 1, 10)
	if err := s.StoreLogs(makeLogs(11, 5)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, &Options{JournalOptions: JournalOptions{SegmentSize: smallSegments, MaxEntrySize: 4096}})
	checkRange(t, s, 1, 15)
	checkLogs(t, s, makeLogs(1, 15))
}
