package journal

import (
	"fmt"
	"testing"

	"github.com/spoolhq/spool/mmapio/crashfs"
)

// exhaustiveWorkloads are small fixed workloads, each aimed at one
// mechanism. Their operation traces are deterministic (no group commit), so
// crash point k is the same place on every run.
var exhaustiveWorkloads = []struct {
	name   string
	policy SyncPolicy
	steps  []step
}{
	{"append", SyncEach, []step{
		{kind: stAppend, sizes: []int{100}},
		{kind: stAppend, sizes: []int{5000}},
		{kind: stBatch, sizes: []int{40, 0, 700}},
	}},
	{"segment roll", PageCache, []step{
		{kind: stAppend, sizes: []int{30000}},
		{kind: stAppend, sizes: []int{30000}}, // rolls
		{kind: stSync},
		{kind: stAppend, sizes: []int{100000}}, // spans three segments
		{kind: stBatch, sizes: []int{60}, durable: true},
	}},
	{"head truncation", SyncEach, []step{
		{kind: stAppend, sizes: []int{30000}},
		{kind: stAppend, sizes: []int{30000}},
		{kind: stAppend, sizes: []int{30000}},
		{kind: stTruncFront, frac: 0.7},
		{kind: stAppend, sizes: []int{200}},
	}},
	{"tail truncation", SyncEach, []step{
		{kind: stAppend, sizes: []int{20000}},
		{kind: stAppend, sizes: []int{20000}},
		{kind: stAppend, sizes: []int{30000}},
		{kind: stAppend, sizes: []int{400}},
		{kind: stTruncBack, frac: 0.3},
		{kind: stAppend, sizes: []int{500}},
	}},
	{"meta flip", SyncEach, []step{
		{kind: stSetMeta, key: "k0", val: strp("a")},
		{kind: stLazyMeta, key: "k1", val: strp("b")},
		{kind: stSetMeta, key: "k0", val: strp("c")},
		{kind: stLazyMeta, key: "k2", val: strp("d")},
		{kind: stLazyMeta, key: "k3", val: strp("e")},
		{kind: stSetMeta, key: "k1"},
		{kind: stReopen},
		{kind: stLazyMeta, key: "k2", val: strp("f")},
	}},
	{"aborted roll", PageCache, []step{
		{kind: stAppend, sizes: []int{20000}},
		{kind: stSync},
		{kind: stFailBatch, sizes: []int{3000, 90000}}, // rolls, then aborts
		{kind: stAppend, sizes: []int{100}},
		{kind: stSync},
	}},
	{"head truncation past a spanning entry", SyncEach, []step{
		{kind: stAppend, sizes: []int{150000}}, // four segments
		{kind: stAppend, sizes: []int{300}},
		{kind: stTruncFront, frac: 0.6}, // drops the segments of entry 1
		{kind: stAppend, sizes: []int{300}},
	}},
	{"unsynced tail truncation", PageCache, []step{
		{kind: stAppend, sizes: []int{500}},
		{kind: stAppend, sizes: []int{600}},
		{kind: stAppend, sizes: []int{700}},
		{kind: stTruncBack, frac: 0.5}, // keeps entries never synced
		{kind: stAppend, sizes: []int{800}},
	}},
	{"spanning tail behind the first index", PageCache, []step{
		{kind: stAppend, sizes: []int{100}},
		{kind: stAppend, sizes: []int{120000}},
		{kind: stTruncFront, frac: 0.9},
		{kind: stAppend, sizes: []int{100}},
		{kind: stSync},
	}},
}

func strp(s string) *string { return &s }

// TestCrashExhaustive records the operation trace of each fixed workload
// (Open included) and crashes it before every operation in turn, and once
// after the last. For every crash point it checks the images where every
// unsynced change lands, where none does, where all but one lands and
// where only one does, for each unsynced page and directory operation.
func TestCrashExhaustive(t *testing.T) {
	total := int64(0)
	for _, w := range exhaustiveWorkloads {
		t.Run(w.name, func(t *testing.T) {
			ops := runExhaustive(t, w.name, w.policy, w.steps, -1)
			images := int64(0)
			for k := int64(0); k <= ops; k++ {
				images += runExhaustive(t, w.name, w.policy, w.steps, k)
			}
			t.Logf("%d operations, %d crash images", ops, images)
			total += images
		})
	}
	t.Logf("%d exhaustive crash images", total)
}

// runExhaustive runs the workload crashing before operation crashAt+1
// (never, when crashAt is negative: it then returns the number of
// operations) and checks every image of the crash.
func runExhaustive(t *testing.T, name string, policy SyncPolicy, steps []step, crashAt int64) int64 {
	r := newCrashRun(t, fmt.Sprintf("%s, crash after %d operations", name, crashAt), policy)
	defer r.close()
	if crashAt >= 0 {
		r.fs.CrashAfter(crashAt)
	}
	alive := r.open()
	for _, s := range steps {
		if !alive {
			break
		}
		alive = r.do(s)
	}
	if crashAt < 0 {
		if !alive {
			t.Fatalf("%s crashed without a crash point", name)
		}
		return r.fs.Ops()
	}
	snap := r.crash()
	units := snap.Units()
	deciders := []crashfs.Decider{crashfs.AllNew, crashfs.AllOld}
	labels := []string{"all land", "none lands"}
	for _, u := range units {
		deciders = append(deciders, crashfs.Omit(u.Index), crashfs.Only(u.Index))
		labels = append(labels, "all but "+u.String(), "only "+u.String())
	}
	for i, d := range deciders {
		j, img, _ := r.recoverImage(snap, d, labels[i], -1, nil)
		if err := j.Close(); err != nil {
			r.fail("%s: Close: %v", labels[i], err)
		}
		releaseFS(img)
	}
	return int64(len(deciders))
}
