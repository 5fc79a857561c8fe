package journal

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/spoolhq/spool/mmapio"
)

// lruSize is the payload size of entry i in the LRU tests: about 18
// entries per 64 KiB segment, and every 50th entry spans two segments.
func lruSize(i uint64) int {
	if i%50 == 0 {
		return testSegSize + 1000
	}
	return 2500 + int(i*131)%1000
}

// buildLongLog appends until the journal has segs segments and returns the
// last index.
func buildLongLog(t testing.TB, j *Journal, segs int) uint64 {
	t.Helper()
	var last uint64
	for i := uint64(1); len(j.segs.Load().segs) < segs; i++ {
		idx, err := j.AppendBytes(payload(i, lruSize(i)))
		if err != nil || idx != i {
			t.Fatalf("AppendBytes(%d): %d, %v", i, idx, err)
		}
		last = i
	}
	if err := j.Sync(); err != nil {
		t.Fatal(err)
	}
	return last
}

// checkBound fails unless at most limit sealed segments are mapped, and on
// Linux at most limit+1 segment files (the active one too) are open and
// mapped by the process.
func checkBound(t *testing.T, j *Journal, limit int, when string) {
	t.Helper()
	if n := j.mappedSealed(); n > limit {
		t.Fatalf("%s: %d sealed segments mapped, cap %d", when, n, limit)
	}
	if fds, maps, ok := procSegments(t, j.Dir()); ok && (fds > limit+1 || maps > limit+1) {
		t.Fatalf("%s: %d segment descriptors and %d segment mappings open, cap %d sealed + 1 active", when, fds, maps, limit)
	}
}

// TestLRUBoundsLongLog builds a log of many small segments and reads all of
// it: written by this instance, replayed by an Iterator after a reopen, and
// read at random by several goroutines. The sealed segments mapped, and on
// Linux the segment descriptors and mappings the process holds, stay
// within the cap throughout (before the cap, every segment touched stayed
// mapped with an open descriptor: 200 of them).
func TestLRUBoundsLongLog(t *testing.T) {
	const limit = 6
	nsegs := envIntShort("SPOOL_LRU_SEGMENTS", 200, 60)
	dir := t.TempDir()
	o := &Options{SegmentSize: testSegSize, Sync: PageCache, MaxOpenSegments: limit}
	j := mustOpen(t, dir, o)
	last := buildLongLog(t, j, nsegs)
	// Segments this instance wrote are evicted by the bounder's goroutine
	// (nothing loaded them); run its pass here instead of waiting for it.
	j.settleBound()
	checkBound(t, j, limit, "after writing")
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	j = mustOpen(t, dir, o)
	defer j.Close()
	it := j.Iter(1)
	n := uint64(0)
	for it.Next() {
		n++
		b, err := it.View().AppendTo(nil)
		if err != nil {
			t.Fatalf("entry %d: %v", it.Index(), err)
		}
		if !bytes.Equal(b, payload(it.Index(), lruSize(it.Index()))) {
			t.Fatalf("entry %d differs", it.Index())
		}
		// One reader: every load evicts down to the cap at once.
		if m := j.mappedSealed(); m > limit {
			t.Fatalf("replay at entry %d: %d sealed segments mapped, cap %d", it.Index(), m, limit)
		}
		if n%64 == 0 {
			checkBound(t, j, limit, "replay")
		}
	}
	if err := it.Err(); err != nil || n != last {
		t.Fatalf("replay read %d of %d entries: %v", n, last, err)
	}
	_ = it.Close()
	checkBound(t, j, limit, "after the replay")

	const readers = 4
	reads := envIntShort("SPOOL_LRU_READS", 3000, 600)
	var wg sync.WaitGroup
	var failed atomic.Value
	for g := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for range reads {
				i := 1 + r.Uint64N(last)
				b, err := j.ReadBytes(i, nil)
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				if !bytes.Equal(b, payload(i, lruSize(i))) {
					failed.CompareAndSwap(nil, errors.New("entry differs"))
					return
				}
				// A load is followed by its loader's eviction pass, so
				// at most one load per reader waits for its pass; and a
				// pass cannot evict what readers pin (up to two
				// segments each, for an entry spanning two).
				if m := j.mappedDuringReads(); m > limit+3*readers {
					failed.CompareAndSwap(nil, fmt.Errorf("%d sealed segments mapped during random reads, cap %d + 3 x %d readers", m, limit, readers))
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		t.Fatal(err)
	}
	j.settleBound()
	checkBound(t, j, limit, "after random reads")
	if j.bound.evictions.Load() == 0 || j.bound.reloads.Load() == 0 {
		t.Fatalf("no eviction (%d) or reload (%d): the test did not exercise the cap", j.bound.evictions.Load(), j.bound.reloads.Load())
	}
	t.Logf("%d entries in %d segments; %d evictions, %d reloads", last, len(j.segs.Load().segs), j.bound.evictions.Load(), j.bound.reloads.Load())
}

// TestLRURaceReadersEviction runs readers that pin segments (short reads,
// and views held across other reads) while evictions run all the time:
// from the readers' own loads (cap 1), from the bounder's pass called in a
// loop, and with a writer appending and truncating at both ends. No read
// may fault or fail, and every entry read must be byte-identical. Run it
// under -race.
func TestLRURaceReadersEviction(t *testing.T) {
	// Yield inside each eviction, between taking the segment's sole
	// reference and clearing loaded: the window a reader pinning at that
	// moment falls into, which step 3 of the protocol (lru.go) closes.
	testHookEvict = func(*segment) { runtime.Gosched() }
	defer func() { testHookEvict = nil }()
	dir := t.TempDir()
	o := &Options{SegmentSize: testSegSize, Sync: PageCache, MaxOpenSegments: 1}
	j := mustOpen(t, dir, o)
	last := buildLongLog(t, j, 24)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	j = mustOpen(t, dir, o)
	defer j.Close()
	// Load every segment once before the readers start: the first load of
	// a segment Open left unloaded rewrites its first index
	// (recover.go, mapSegment) while readers' lookups read it without a
	// lock, a race older than the LRU that this test is not about.
	// Reloads after eviction write none of those fields.
	it := j.Iter(1)
	for it.Next() {
	}
	if err := it.Close(); err != nil || it.Err() != nil {
		t.Fatal(err, it.Err())
	}

	rounds := envIntShort("SPOOL_LRU_RACE_READS", 4000, 800)
	stop := make(chan struct{})
	var wg, churn sync.WaitGroup
	var failed atomic.Value
	fail := func(err error) { failed.CompareAndSwap(nil, err) }
	check := func(i uint64, b []byte) bool {
		if !bytes.Equal(b, payload(i, lruSize(i))) {
			fail(errors.New("entry differs"))
			return false
		}
		return true
	}
	// readable reports an error a reader may see because the writer moved
	// the log's bounds; anything else (a fault, corruption) fails.
	readable := func(err error) bool { return errors.Is(err, ErrOutOfRange) }

	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 11))
			var held []*View
			for n := range rounds {
				lo, hi := j.FirstIndex(), min(j.LastIndex(), last)
				if hi < lo {
					continue
				}
				i := lo + r.Uint64N(hi-lo+1)
				v, err := j.Get(i)
				if err != nil {
					if !readable(err) {
						fail(err)
						return
					}
					continue
				}
				if n%7 == 0 {
					held = append(held, v) // keep it pinned while others are read and evicted
				}
				b, err := v.AppendTo(nil)
				if err != nil {
					fail(err)
					return
				}
				if !check(i, b) {
					return
				}
				if n%7 != 0 {
					v.Release()
				}
				if len(held) > 3 || n == rounds-1 {
					for _, h := range held {
						hb, err := h.AppendTo(nil)
						if err != nil {
							fail(err)
							return
						}
						if !check(h.Index(), hb) {
							return
						}
						h.Release()
					}
					held = held[:0]
				}
			}
		}()
	}
	churn.Add(2)
	go func() { // evictions from the bounder's pass, in a loop
		defer churn.Done()
		for {
			select {
			case <-stop:
				return
			default:
				j.settleBound()
			}
		}
	}()
	go func() { // a writer moving both ends: cuts, recycling, rolls
		defer churn.Done()
		r := rand.New(rand.NewPCG(99, 1))
		for {
			select {
			case <-stop:
				return
			default:
			}
			switch r.IntN(3) {
			case 0:
				// Entries above last are rewritten with the same
				// contents, so readers can check whatever they see.
				if l := j.LastIndex(); l < last+40 {
					if _, err := j.AppendBytes(payload(l+1, lruSize(l+1))); err != nil {
						fail(err)
						return
					}
				}
			case 1:
				if l := j.LastIndex(); l > last {
					if err := j.TruncateBack(last + uint64(r.IntN(int(l-last)))); err != nil {
						fail(err)
						return
					}
				}
			case 2:
				if f := j.FirstIndex(); f < last/3 {
					if err := j.TruncateFront(f + 5); err != nil {
						fail(err)
						return
					}
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	churn.Wait()
	if err := failed.Load(); err != nil {
		if errors.Is(err.(error), mmapio.ErrFault) {
			t.Fatalf("a read faulted: a mapping was unmapped under a reader: %v", err)
		}
		t.Fatal(err)
	}
	if j.bound.evictions.Load() == 0 || j.bound.reloads.Load() == 0 {
		t.Fatalf("no eviction (%d) or reload (%d): the test did not exercise the cap", j.bound.evictions.Load(), j.bound.reloads.Load())
	}
	t.Logf("%d evictions, %d reloads, %d evictions abandoned for a reader's pin or a cut", j.bound.evictions.Load(), j.bound.reloads.Load(), j.bound.aborts.Load())
}

// TestPinRacesFrontCut lets a front cut drop and unlink the segment a
// reader has just found and pinned, before the reader loads it (the
// segment was never loaded since Open, as after an LRU eviction): the
// reader gets ErrOutOfRange for the entry that left the log, not the
// failed open of the unlinked file.
func TestPinRacesFrontCut(t *testing.T) {
	dir := t.TempDir()
	o := &Options{SegmentSize: testSegSize, Sync: PageCache, MaxOpenSegments: 1}
	j := mustOpen(t, dir, o)
	last := buildLongLog(t, j, 6)
	mustClose(t, j)
	j = mustOpen(t, dir, o)
	defer closeOK(t, j)
	target := j.segs.Load().segs[0]
	if target.loaded.Load() {
		t.Fatal("the first segment is loaded right after Open")
	}
	cutTo := j.segs.Load().segs[2].first
	var once sync.Once
	testHookPinned = func(s *segment) {
		if s == target {
			once.Do(func() {
				if err := j.TruncateFront(cutTo); err != nil {
					t.Error(err)
				}
			})
		}
	}
	defer func() { testHookPinned = nil }()
	_, err := j.Get(target.first)
	if !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("Get of an entry a front cut removed while the reader pinned its segment: %v, want ErrOutOfRange", err)
	}
	if got, err := j.ReadBytes(last, nil); err != nil || !bytes.Equal(got, payload(last, lruSize(last))) {
		t.Fatalf("last entry after the cut: %v", err)
	}
}
