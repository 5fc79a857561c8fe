package journal

import (
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"testing"

	"github.com/spoolhq/spool/mmapio/crashfs"
)

// TestCrashSweepBlockSums is TestCrashSweep with segments of 256 KiB and a
// workload biased to entries of several blocks (format 3 chunks with block
// sums, up to 5 blocks) and to entries spanning two to four segments
// (first, middle and last chunks, each with sums of its own), so that
// crashes tear chunks between their payload, their block sums and their
// header. The same checks hold: no acknowledged-durable entry lost, a
// contiguous prefix of what was appended, byte-identical entries, no error.
//
// SPOOL_CRASH_BLOCK_IMAGES (default 300, 60 under -short) is the number of
// crash images to check.
func TestCrashSweepBlockSums(t *testing.T) {
	want := envIntShort("SPOOL_CRASH_BLOCK_IMAGES", 300, 60)
	images, seeds := 0, 0
	for seed := uint64(1); images < want && !t.Failed(); seed++ {
		images += runBlockCrashSeed(t, seed)
		seeds++
	}
	t.Logf("%d crash images from %d seeds", images, seeds)
}

// blockCrashSegSize is the segment size of TestCrashSweepBlockSums.
const blockCrashSegSize = 256 << 10

// blockStep draws a workload step of TestCrashSweep, with the payload
// sizes redrawn: a third of several blocks, a sixth spanning segments.
func blockStep(rng *rand.Rand) step {
	s := randomStep(rng)
	for i := range s.sizes {
		switch r := rng.IntN(6); {
		case r < 2:
			s.sizes[i] = blockSize + rng.IntN(4*blockSize+1)
		case r < 3:
			s.sizes[i] = blockCrashSegSize/2 + rng.IntN(3*blockCrashSegSize)
		}
	}
	return s
}

func runBlockCrashSeed(t *testing.T, seed uint64) int {
	rng := rand.New(rand.NewPCG(seed, 0xb10c5e55))
	r := newCrashRun(t, fmt.Sprintf("block-sum seed %d", seed), SyncPolicy(seed%3))
	r.opts.SegmentSize = blockCrashSegSize
	r.opts.MaxEntrySize = 4 << 20
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
			r.fs.CrashAfter(rng.Int64N(60))
		}
		for n := 3 + rng.IntN(maxStepsPerLife); alive && n > 0; n-- {
			alive = r.do(blockStep(rng))
		}
		snap := r.crash()
		r.logf("crash %d after %d ops, %d unsynced units", round, snap.Ops(), len(snap.Units()))
		old := r.fs
		r.recoverImages(snap, old, round, func(k int) (crashfs.Decider, int64, crashfs.Decider) {
			crashIn := int64(-1)
			if rng.IntN(5) == 0 {
				crashIn = rng.Int64N(10) // the recovery crashes too
			}
			return crashfs.Random(seed<<16 | uint64(round)<<8 | uint64(k) | 0xb000000), crashIn, crashfs.Random(seed<<16 | uint64(round)<<8 | uint64(k) | 0xb000080)
		})
	}
	return r.images
}
