package journal

import (
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync/atomic"
	"testing"

	"github.com/spoolhq/spool/mmapio/crashfs"
)

// TestLRUCrashSweep is the crash sweep (crash_sweep_test.go) with at most
// one sealed segment mapped: every read of the checks after recovery, and
// every truncation that loads the segment it cuts, evicts and reloads, and
// the crash images are taken with segments unmapped. What the sweep
// asserts must hold unchanged: acknowledged entries survive, the log is a
// byte-identical prefix, damage is typed. Size: SPOOL_LRU_CRASH_IMAGES
// (default 600, 120 under -short).
func TestLRUCrashSweep(t *testing.T) {
	var evictions atomic.Int64
	testHookEvict = func(*segment) { evictions.Add(1) }
	defer func() { testHookEvict = nil }()
	want := envIntShort("SPOOL_LRU_CRASH_IMAGES", 600, 120)
	images, seeds := 0, 0
	for seed := uint64(1); images < want && !t.Failed(); seed++ {
		images += runLRUCrashSeed(t, seed)
		seeds++
	}
	if evictions.Load() == 0 {
		t.Fatal("no eviction: the sweep did not exercise the cap")
	}
	t.Logf("%d crash images from %d seeds; %d evictions begun", images, seeds, evictions.Load())
}

// runLRUCrashSeed is runCrashSeed with Options.MaxOpenSegments 1.
func runLRUCrashSeed(t *testing.T, seed uint64) int {
	rng := rand.New(rand.NewPCG(seed, 0x1e0c4a5f))
	r := newCrashRun(t, fmt.Sprintf("lru seed %d", seed), SyncPolicy(seed%3))
	r.opts.MaxOpenSegments = 1
	defer r.close()
	defer func() {
		if p := recover(); p != nil {
			r.fail("panic: %v\n%s", p, debug.Stack())
		}
	}()
	for round := 0; round < crashRounds; round++ {
		alive := true
		if r.j == nil {
			alive = r.open()
		}
		if alive && rng.IntN(5) != 0 {
			r.fs.CrashAfter(rng.Int64N(80))
		}
		for n := 3 + rng.IntN(maxStepsPerLife); alive && n > 0; n-- {
			alive = r.do(randomStep(rng))
		}
		snap := r.crash()
		old := r.fs
		r.recoverImages(snap, old, round, func(k int) (crashfs.Decider, int64, crashfs.Decider) {
			return crashfs.Random(seed<<16 | uint64(round)<<8 | uint64(k)), -1, nil
		})
	}
	return r.images
}
