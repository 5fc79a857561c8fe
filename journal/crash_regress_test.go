package journal

import (
	"testing"

	"github.com/spoolhq/spool/internal/crashfs"
	"github.com/spoolhq/spool/stream"
)

// Regression tests for the violations the crash sweeps found, each reduced
// to the few steps that show it, on the decider that exposes it.

// crashRecover crashes r's journal now and reopens it on the image d
// builds, checking the result against the oracle.
func crashRecover(t *testing.T, r *crashRun, d crashfs.Decider) {
	t.Helper()
	snap := r.crash()
	j, img, c := r.recoverImage(snap, d, "regression image", -1, nil)
	r.fs.Close()
	r.adopt(j, img, c)
}

// An aborted append rewinds the write offset below what the last sync
// round covered; the entry appended there next must still be synced before
// it is acknowledged durable.
func TestCrashRegressSyncAfterAbortedAppend(t *testing.T) {
	r := newCrashRun(t, "regress abort-then-sync", PageCache)
	defer r.close()
	r.open()
	for _, s := range []step{
		{kind: stAppend, sizes: []int{100}},
		{kind: stFailAppend, sizes: []int{9000}},
		{kind: stSync},
		{kind: stAppend, sizes: []int{5000}},
		{kind: stSync},
	} {
		if !r.do(s) {
			t.Fatalf("step %v crashed", s)
		}
	}
	crashRecover(t, r, crashfs.AllOld)
}

// Two lazy meta writes in a row must not leave both slots unsynced: the
// second would overwrite the only durable one.
func TestCrashRegressTwoLazyMetaWrites(t *testing.T) {
	r := newCrashRun(t, "regress lazy meta", SyncEach)
	defer r.close()
	r.open()
	a, b, c := "a", "b", "c"
	for _, s := range []step{
		{kind: stSetMeta, key: "k0", val: &a},
		{kind: stLazyMeta, key: "k1", val: &b},
		{kind: stLazyMeta, key: "k2", val: &c},
	} {
		r.do(s)
	}
	crashRecover(t, r, tornAll{})
}

// tornAll tears every unsynced page: half its sectors old, half new.
type tornAll struct{}

func (tornAll) Page(_ crashfs.Unit, fate []crashfs.Sector) {
	for i := range fate {
		fate[i] = crashfs.Sector(i % 2)
	}
}
func (tornAll) Land(crashfs.Unit) bool { return true }

var _ = stream.Writer{}
