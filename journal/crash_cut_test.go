package journal

import (
	"slices"
	"testing"
)

func sizesOf(n, size int) []int { return slices.Repeat([]int{size}, n) }

// cutWorkloads aim at the cuts' own paths (reap.go, truncate.go): a front
// cut inside a sealed segment, which punches out its prefix, and back cuts
// into a sealed segment, which sync only the meta record and leave the new
// trailer as a deferred seal, once and twice in a row.
var cutWorkloads = []struct {
	name   string
	policy SyncPolicy
	steps  []step
}{
	{"front cut inside a sealed segment (punch)", SyncEach, []step{
		{kind: stBatch, sizes: sizesOf(25, 3000), durable: true},
		{kind: stBatch, sizes: sizesOf(25, 3000), durable: true},
		{kind: stTruncFront, frac: 0.3},
		{kind: stAppend, sizes: []int{200}},
		{kind: stTruncFront, frac: 0.3},
		{kind: stReopen},
		{kind: stAppend, sizes: []int{300}},
	}},
	{"back cuts into a sealed segment", SyncEach, []step{
		{kind: stBatch, sizes: sizesOf(25, 3000), durable: true},
		{kind: stBatch, sizes: sizesOf(25, 3000), durable: true},
		{kind: stTruncBack, frac: 0.3},
		{kind: stTruncBack, frac: 0.8},
		{kind: stAppend, sizes: []int{500}},
		{kind: stReopen},
		{kind: stAppend, sizes: []int{600}},
	}},
	{"unsynced back cut within the active segment", PageCache, []step{
		{kind: stBatch, sizes: sizesOf(30, 3000)},
		{kind: stTruncBack, frac: 0.9},
		{kind: stAppend, sizes: []int{700}},
		{kind: stTruncFront, frac: 0.6},
		{kind: stSync},
	}},
}

// TestCrashCuts crashes each cut workload before every operation (and
// after the last) and checks every image TestCrashExhaustive checks; it
// first checks that the front-cut workload punches.
func TestCrashCuts(t *testing.T) {
	r := newCrashRun(t, "punch check", SyncEach)
	if !r.open() {
		t.Fatal("open")
	}
	for _, s := range cutWorkloads[0].steps[:3] {
		if !r.do(s) {
			t.Fatal("step failed")
		}
	}
	if n := r.j.reaper.punched.Load(); n == 0 {
		t.Fatal("the front-cut workload punches nothing")
	}
	r.close()
	for _, w := range cutWorkloads {
		t.Run(w.name, func(t *testing.T) {
			ops := runExhaustive(t, w.name, w.policy, w.steps, -1)
			images := int64(0)
			for k := int64(0); k <= ops; k++ {
				images += runExhaustive(t, w.name, w.policy, w.steps, k)
			}
			t.Logf("%d operations, %d crash images", ops, images)
		})
	}
}
