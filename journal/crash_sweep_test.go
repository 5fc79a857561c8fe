package journal

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"testing"

	"github.com/spoolhq/spool/internal/crashfs"
)

// TestCrashSweep runs seeded random workloads (appends from empty to
// multi-segment, streamed, sized and batched, with and without
// RequireDurable, aborted appends and batches, Sync, WaitDurable,
// TruncateFront, TruncateBack, Reset, durable and lazy meta writes, clean
// reopens) under every sync policy on a crashfs.FS with 64 KiB segments.
// Each seed crashes three times at a random operation (sometimes inside
// Open, sometimes inside the recovery of the previous crash), builds two
// random images per crash and checks each recovery against the oracle: no
// acknowledged-durable entry lost, a contiguous prefix of what was
// appended, byte-identical entries, meta equal to a state written since the
// last durable meta write, no error and no panic. The second image of each
// crash carries the workload on.
//
// SPOOL_CRASH_IMAGES (default 2000) is the number of crash images to
// check; SPOOL_CRASH_SEED=N replays one seed, and SPOOL_CRASH_TRACE=1 logs
// every step. Seeds under GroupCommit replay the same workload and crash
// decisions, but the committer's timing, and so what a crash finds synced,
// varies from run to run.
func TestCrashSweep(t *testing.T) {
	if s := os.Getenv("SPOOL_CRASH_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SPOOL_CRASH_SEED=%q: %v", s, err)
		}
		n := runCrashSeed(t, seed)
		t.Logf("seed %d: %d crash images", seed, n)
		return
	}
	want := envInt("SPOOL_CRASH_IMAGES", 2000)
	images, seeds := 0, 0
	for seed := uint64(1); images < want && !t.Failed(); seed++ {
		images += runCrashSeed(t, seed)
		seeds++
	}
	t.Logf("%d crash images from %d seeds", images, seeds)
}

const (
	crashRounds     = 3  // crashes per seed
	imagesPerCrash  = 2  // images checked per crash; the last carries on
	maxStepsPerLife = 30 // steps between recoveries, at most
)

func runCrashSeed(t *testing.T, seed uint64) int {
	rng := rand.New(rand.NewPCG(seed, 0xc4a5f00d))
	r := newCrashRun(t, fmt.Sprintf("seed %d", seed), SyncPolicy(seed%3))
	defer r.close()
	defer func() {
		if p := recover(); p != nil {
			r.fail("panic: %v\n%s", p, debug.Stack())
		}
	}()
	for round := 0; round < crashRounds; round++ {
		alive := true
		if r.j == nil {
			if rng.IntN(6) == 0 {
				r.fs.CrashAfter(rng.Int64N(12)) // inside creation
			}
			alive = r.open()
		}
		if alive && rng.IntN(5) != 0 {
			r.fs.CrashAfter(rng.Int64N(80))
		}
		for n := 3 + rng.IntN(maxStepsPerLife); alive && n > 0; n-- {
			alive = r.do(randomStep(rng))
		}
		snap := r.crash()
		r.logf("crash %d after %d ops, %d unsynced units", round, snap.Ops(), len(snap.Units()))
		old := r.fs
		for k := 0; k < imagesPerCrash; k++ {
			d := crashfs.Random(seed<<16 | uint64(round)<<8 | uint64(k))
			crashIn := int64(-1)
			if rng.IntN(5) == 0 {
				crashIn = rng.Int64N(10)
			}
			label := fmt.Sprintf("crash %d image %d", round, k)
			j, img, c := r.recoverImage(snap, d, label, crashIn, crashfs.Random(seed<<16|uint64(round)<<8|uint64(k)|0x80))
			if k < imagesPerCrash-1 {
				if err := j.Close(); err != nil {
					r.fail("%s: Close: %v", label, err)
				}
				img.Close()
				continue
			}
			old.Close()
			r.adopt(j, img, c)
		}
	}
	return r.images
}
