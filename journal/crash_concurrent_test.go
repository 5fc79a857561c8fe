package journal

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/spoolhq/spool/mmapio/crashfs"
)

// TestCrashConcurrentAppenders crashes a journal while several goroutines
// append (sharing sync rounds under SyncEach, racing the committer under
// GroupCommit) and another reads what they were acknowledged, so that
// mapped stores, syncs and reads overlap as in production. After recovery
// from a random image: the log is contiguous from its first index, every
// entry acknowledged durable (or under the watermark) is present, and
// every entry is byte-identical to the one acknowledged at its index or,
// past the acknowledged ones, to one whose append was cut short.
//
// SPOOL_CRASH_CONCURRENT_SEEDS (default 40) sets the number of crashes.
func TestCrashConcurrentAppenders(t *testing.T) {
	seeds := envInt("SPOOL_CRASH_CONCURRENT_SEEDS", 40)
	var acked, durable, recovered uint64
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		a, d, r := runConcurrentCrash(t, seed)
		acked, durable, recovered = acked+a, durable+d, recovered+r
	}
	t.Logf("%d crashes: %d entries acknowledged, %d durable, %d recovered", seeds, acked, durable, recovered)
}

// runConcurrentCrash returns the entries acknowledged, acknowledged durable
// and recovered.
func runConcurrentCrash(t *testing.T, seed uint64) (uint64, uint64, uint64) {
	rng := rand.New(rand.NewPCG(seed, 0xc0c0))
	policy := []SyncPolicy{SyncEach, GroupCommit, PageCache}[seed%3]
	fs := crashfs.New()
	defer releaseFS(fs)
	opts := &Options{FS: fs, SegmentSize: testSegSize, Sync: policy, spare: spareInline}
	j, err := Open(crashDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	fs.CrashAfter(20 + rng.Int64N(150))
	const writers = 4
	var (
		mu       sync.Mutex
		acked    = map[uint64][]byte{}
		inflight [][]byte
		durable  uint64
	)
	sizes := make([][]int, writers)
	for g := range sizes {
		for k := 0; k < 25; k++ {
			sizes[g] = append(sizes[g], []int{0, 10, 300, 3000, 20000, 90000}[rng.IntN(6)])
		}
	}
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for k, n := range sizes[g] {
				p := payload(seed<<32|uint64(g)<<16|uint64(k), n)
				idx, err := j.AppendBytes(p)
				if err == nil && policy != SyncEach && k%3 == 0 {
					err = j.WaitDurable(context.Background(), idx)
				}
				mu.Lock()
				if err != nil {
					if idx == 0 {
						inflight = append(inflight, p)
					} else {
						acked[idx] = p // readable, not durable
					}
					mu.Unlock()
					return
				}
				acked[idx] = p
				if policy == SyncEach || k%3 == 0 {
					durable = max(durable, idx)
				}
				mu.Unlock()
			}
		}(g)
	}
	stop := make(chan struct{})
	var readErr error
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() { // reads what was acknowledged, while appends and syncs run
		defer rwg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			var idx uint64
			var want []byte
			for i, p := range acked {
				idx, want = i, p
				break
			}
			mu.Unlock()
			if idx == 0 {
				continue
			}
			got, err := j.ReadBytes(idx, nil)
			if err == nil && !bytes.Equal(got, want) {
				readErr = fmt.Errorf("entry %d read back %d bytes differing from the %d appended", idx, len(got), len(want))
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	rwg.Wait()
	if readErr != nil {
		t.Fatalf("seed %d: %v", seed, readErr)
	}
	if d := j.Durable(); d > durable {
		durable = d
	}
	snap := fs.Crash()
	j.crashClose()
	img, err := snap.Image(crashfs.Random(seed))
	if err != nil {
		t.Fatal(err)
	}
	defer releaseFS(img)
	opts.FS = img
	j2, err := Open(crashDir, opts)
	if err != nil {
		t.Fatalf("seed %d (%v): recovery: %v", seed, policy, err)
	}
	defer closeOK(t, j2)
	if j2.FirstIndex() != 1 || j2.LastIndex() < durable {
		t.Fatalf("seed %d (%v): recovered [%d,%d], but entries up to %d were acknowledged durable", seed, policy, j2.FirstIndex(), j2.LastIndex(), durable)
	}
	if max := uint64(len(acked) + len(inflight)); j2.LastIndex() > max {
		t.Fatalf("seed %d: recovered %d entries, only %d were appended", seed, j2.LastIndex(), max)
	}
	for i := uint64(1); i <= j2.LastIndex(); i++ {
		got, err := j2.ReadBytes(i, nil)
		if err != nil {
			t.Fatalf("seed %d: entry %d: %v", seed, i, err)
		}
		if want, ok := acked[i]; ok {
			if !bytes.Equal(got, want) {
				t.Fatalf("seed %d: entry %d differs from the one acknowledged at its index", seed, i)
			}
			continue
		}
		found := false
		for _, p := range inflight {
			found = found || bytes.Equal(got, p)
		}
		if !found {
			t.Fatalf("seed %d: entry %d (%d bytes) is nothing that was appended", seed, i, len(got))
		}
	}
	return uint64(len(acked)), durable, j2.LastIndex()
}
