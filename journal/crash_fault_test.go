package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/spoolhq/spool/mmapio/crashfs"
)

// faultWorkload appends across segment rolls, syncs, truncates and writes
// meta: every kind of sync and write the journal makes.
var faultWorkload = []step{
	{kind: stAppend, sizes: []int{300}},
	{kind: stBatch, sizes: []int{5000, 20}, durable: true},
	{kind: stSetMeta, key: "k0", val: strp("v0")},
	{kind: stAppend, sizes: []int{40000}}, // rolls
	{kind: stSync},
	{kind: stAppend, sizes: []int{90000}}, // spans segments
	{kind: stWaitDurable},
	{kind: stTruncFront, frac: 0.5},
	{kind: stLazyMeta, key: "k1", val: strp("v1")},
	{kind: stAppend, sizes: []int{700}},
	{kind: stTruncBack, frac: 0.8},
	{kind: stAppend, sizes: []int{64}},
	{kind: stSync},
}

// TestCrashFaultSyncEIO fails each sync of the workload in turn (msync,
// fdatasync of segments and meta, directory fsync) under every policy. The
// failure marks the pages clean without writing them (fsyncgate). After it:
// the step that needed the sync acknowledges nothing, the instance refuses
// every later write with ErrFailed, the watermark does not move, and a
// crash image of what reached the disk recovers to a state consistent with
// the acknowledgements made before the failure.
func TestCrashFaultSyncEIO(t *testing.T) {
	cases := 0
	for _, kind := range []crashfs.FaultKind{crashfs.SyncEIO, crashfs.SyncDirEIO} {
		for _, policy := range []SyncPolicy{SyncEach, GroupCommit, PageCache} {
			for skip := 0; ; skip++ {
				name := fmt.Sprintf("%v skip %d", kind, skip)
				fired := runSyncFault(t, name, policy, crashfs.Fault{Kind: kind, Skip: skip})
				if !fired {
					break
				}
				cases++
			}
		}
	}
	t.Logf("%d sync failure cases", cases)
}

func runSyncFault(t *testing.T, name string, policy SyncPolicy, fl crashfs.Fault) bool {
	r := newCrashRun(t, name, policy)
	defer r.close()
	r.allow = func(err error) bool {
		return errors.Is(err, ErrFailed) && errors.Is(err, syscall.EIO) || errors.Is(err, ErrFailed)
	}
	if !r.open() {
		t.Fatalf("%s: crashed in open", name)
	}
	r.fs.Inject(fl)
	failed := false
	for _, s := range faultWorkload {
		if !r.do(s) {
			failed = true
			break
		}
	}
	if r.fs.Fired() == 0 {
		return false
	}
	if policy == GroupCommit && !failed {
		// The committer may have hit the fault in the background: the
		// next write must see it.
		failed = !r.do(step{kind: stAppend, sizes: []int{10}})
	}
	if !failed {
		if err := r.j.Close(); err == nil || !errors.Is(err, syscall.EIO) && !errors.Is(err, ErrFailed) {
			r.fail("a sync failed, yet every step and Close succeeded (Close: %v)", err)
		}
		r.j = nil
	} else {
		if r.j.Err() == nil {
			r.fail("a step failed on EIO but the instance is not failed")
		}
		durable := r.j.Durable()
		if _, err := r.j.AppendBytes([]byte("after")); !errors.Is(err, ErrFailed) {
			r.fail("append after a failed sync: %v, want ErrFailed", err)
		}
		if err := r.j.Sync(); err == nil && r.j.LastIndex() > r.j.Durable() {
			r.fail("Sync after a failed sync succeeded with entries %d..%d not durable", r.j.Durable()+1, r.j.LastIndex())
		}
		if err := r.j.SetMeta("k2", []byte("x")); !errors.Is(err, ErrFailed) {
			r.fail("SetMeta after a failed sync: %v, want ErrFailed", err)
		}
		if r.j.Durable() != durable {
			r.fail("watermark moved from %d to %d after the failure", durable, r.j.Durable())
		}
	}
	// What reached the disk is all there is; unsynced pages may or may
	// not follow, except those the failed sync dropped.
	snap := r.crash()
	for k, d := range []crashfs.Decider{crashfs.AllOld, crashfs.AllNew, crashfs.Random(uint64(fl.Skip))} {
		j, img, _ := r.recoverImage(snap, d, fmt.Sprintf("image %d after %v", k, fl.Kind), -1, nil)
		if err := j.Close(); err != nil {
			r.fail("image %d after %v: Close of the recovered journal: %v", k, fl.Kind, err)
		}
		releaseFS(img)
	}
	return true
}

// TestCrashFaultNoSpace fills the disk (a capacity bound, and an injected
// ENOSPC at Allocate): the append that needs a new segment fails with
// ErrNoSpace, nothing is appended, the journal stays readable and equal to
// what was acknowledged, and after space is freed and the journal is
// reopened appends resume.
func TestCrashFaultNoSpace(t *testing.T) {
	cases := 0
	for _, policy := range []SyncPolicy{SyncEach, GroupCommit, PageCache} {
		for _, capSegs := range []int64{2, 3, 5} {
			noSpaceCase(t, policy, func(fs *crashfs.FS) { fs.SetCapacity(capSegs*testSegSize + 3*crashfs.PageSize) }, fmt.Sprintf("capacity %d segments", capSegs))
			cases++
		}
		for skip := 0; skip < 4; skip++ {
			noSpaceCase(t, policy, func(fs *crashfs.FS) { fs.Inject(crashfs.Fault{Kind: crashfs.AllocENOSPC, Skip: skip}) }, fmt.Sprintf("fallocate ENOSPC skip %d", skip))
			cases++
		}
	}
	t.Logf("%d ENOSPC cases", cases)
}

func noSpaceCase(t *testing.T, policy SyncPolicy, arm func(*crashfs.FS), name string) {
	r := newCrashRun(t, name, policy)
	defer r.close()
	r.allow = func(err error) bool { return errors.Is(err, ErrNoSpace) }
	r.open()
	arm(r.fs)
	full := false
	for i := 0; i < 40 && !full; i++ {
		full = !r.do(step{kind: stAppend, sizes: []int{9000 + i*100}})
	}
	if !full {
		if r.fs.Fired() > 0 && r.j.spareMaker.dropped.Load() > 0 {
			// The one-shot fault hit the reservation of a spare
			// segment file; the roll reserved its own and nothing
			// ran out of space. The journal must not have noticed.
			if r.j.Err() != nil {
				r.fail("a failed spare reservation made the instance fail: %v", r.j.Err())
			}
			r.checkLive()
			return
		}
		r.fail("40 appends of 9 KB never ran out of space")
	}
	if !errors.Is(r.stepErr, ErrNoSpace) || !errors.Is(r.stepErr, syscall.ENOSPC) {
		r.fail("append on a full disk: %v, want ErrNoSpace wrapping ENOSPC", r.stepErr)
	}
	r.o, r.pre = r.pre, nil // the failed append left no trace
	if r.j.Err() != nil {
		r.fail("ENOSPC made the instance fail: %v", r.j.Err())
	}
	r.checkLive()
	// Free space: compact most of the log, reopen, append again.
	r.allow = nil
	if !r.do(step{kind: stTruncFront, frac: 0.9}) || !r.do(step{kind: stReopen}) {
		r.fail("compaction or reopen after ENOSPC failed: %v", r.stepErr)
	}
	r.fs.SetCapacity(0)
	for i := 0; i < 5; i++ {
		if !r.do(step{kind: stAppend, sizes: []int{20000}}) || !r.do(step{kind: stSync}) {
			r.fail("append after freeing space failed")
		}
	}
	r.checkLive()
}

// TestCrashFaultPartialWrites makes a meta slot write or a segment header
// write stop at byte k, with ENOSPC or as a short write: the step fails
// with ErrFailed wrapping the cause, and a reopen (no crash: the torn bytes
// stay in the page cache) finds the last complete state.
func TestCrashFaultPartialWrites(t *testing.T) {
	// A fault can strike a zero prefill write of a segment file
	// (prefill.go), which the journal ignores: the step then succeeds,
	// and the log must still be intact after a reopen.
	var prefillFailed atomic.Int64
	testHookPrefillFailed = func(error) { prefillFailed.Add(1) }
	defer func() { testHookPrefillFailed = nil }()
	cases, prefillCases := 0, 0
	for _, kind := range []crashfs.FaultKind{crashfs.WriteENOSPC, crashfs.ShortWrite} {
		for _, path := range []string{metaName, ".seg"} {
			for _, at := range []int{0, 1, 63, 512, 2048, 4095} {
				for skip := 0; skip < 3; skip++ {
					name := fmt.Sprintf("%v on %s at byte %d skip %d", kind, path, at, skip)
					r := newCrashRun(t, name, SyncEach)
					r.allow = func(err error) bool { return errors.Is(err, ErrFailed) }
					r.open()
					r.fs.Inject(crashfs.Fault{Kind: kind, Path: path, At: at, Skip: skip})
					for _, s := range faultWorkload {
						if !r.do(s) {
							break
						}
					}
					if r.fs.Fired() == 0 {
						r.close()
						continue
					}
					cases++
					want := syscall.ENOSPC
					if r.stepErr == nil && prefillFailed.Swap(0) > 0 {
						prefillCases++
					} else if kind == crashfs.ShortWrite && !errors.Is(r.stepErr, io.ErrShortWrite) || kind == crashfs.WriteENOSPC && !errors.Is(r.stepErr, want) {
						r.fail("step error %v does not wrap the write failure", r.stepErr)
					}
					r.j.crashClose()
					j, err := Open(crashDir, r.options(r.fs))
					if err != nil {
						r.fail("reopen after a partial write: %v", err)
					}
					r.j = j
					if c, why := r.matchCrash(j); c == nil {
						r.fail("reopen after a partial write: %s", why)
					}
					r.close()
				}
			}
		}
	}
	t.Logf("%d partial write cases, %d of them in a zero prefill", cases, prefillCases)
	if prefillCases == cases {
		t.Fatalf("every fault struck a zero prefill write: no case exercised a failing header or meta write")
	}
}

// TestCrashFaultReadEIO fails each read Open makes in turn, on a journal
// left by a crash (scan, checkpoints) and on one left by a clean Close
// (clean record): Open either fails or recovers everything; it never trims
// acknowledged entries because a read failed, and a second Open without the
// fault recovers everything.
func TestCrashFaultReadEIO(t *testing.T) {
	cases := 0
	for _, clean := range []bool{false, true} {
		base := newCrashRun(t, fmt.Sprintf("read EIO base (clean %v)", clean), SyncEach)
		base.open()
		for _, s := range faultWorkload[:7] {
			base.do(s)
		}
		var snap *crashfs.Snapshot
		if clean {
			if err := base.j.Close(); err != nil {
				t.Fatal(err)
			}
			base.j = nil
		}
		snap = base.crash()
		for skip := 0; ; skip++ {
			img, err := snap.Image(crashfs.AllOld)
			if err != nil {
				t.Fatal(err)
			}
			img.Inject(crashfs.Fault{Kind: crashfs.ReadEIO, Skip: skip})
			j, err := Open(crashDir, base.options(img))
			if err == nil {
				// Whatever read fails later, in this instance, must
				// surface as the I/O error it is.
				if why := matchExactDurable(j, base.o); why != "" && !(img.Fired() > 0 && readFailedWithEIO(j, base.o)) {
					t.Fatalf("clean %v, read %d failed, Open succeeded with a different log: %s", clean, skip, why)
				}
				if err := j.Close(); err != nil {
					t.Fatalf("clean %v, read %d failed: Close of the journal Open returned: %v", clean, skip, err)
				}
			} else if errors.Is(err, ErrCorrupt) {
				t.Fatalf("clean %v, read %d failed: Open reports corruption: %v", clean, skip, err)
			}
			fired := img.Fired() > 0
			releaseFS(img)
			if img, err = snap.Image(crashfs.AllOld); err != nil {
				t.Fatal(err)
			}
			j, err = Open(crashDir, base.options(img))
			if err != nil {
				t.Fatalf("clean %v, read %d failed earlier; Open without the fault: %v", clean, skip, err)
			}
			if why := matchExactDurable(j, base.o); why != "" {
				t.Fatalf("clean %v, read %d failed earlier; the log changed: %s", clean, skip, why)
			}
			if err := j.Close(); err != nil {
				t.Fatalf("clean %v, read %d failed earlier; Close without the fault: %v", clean, skip, err)
			}
			releaseFS(img)
			if !fired {
				break
			}
			cases++
		}
		base.close()
	}
	t.Logf("%d read failure cases", cases)
}

// readFailedWithEIO reports whether the journal's range is right and every
// entry reads right or fails with the injected EIO (not ErrCorrupt).
func readFailedWithEIO(j *Journal, o *crashOracle) bool {
	if j.FirstIndex() != o.first || j.LastIndex() != o.durable {
		return false
	}
	for i := o.first; i <= o.durable; i++ {
		got, err := j.ReadBytes(i, nil)
		if err != nil && (!errors.Is(err, syscall.EIO) || errors.Is(err, ErrCorrupt)) {
			return false
		}
		if err == nil && !bytes.Equal(got, o.entries[i-o.first]) {
			return false
		}
	}
	return true
}

// matchExactDurable checks that j holds exactly the acknowledged-durable
// part of o (the images used carry nothing unsynced).
func matchExactDurable(j *Journal, o *crashOracle) string {
	if j.FirstIndex() != o.first || j.LastIndex() != o.durable {
		return fmt.Sprintf("range [%d,%d], want [%d,%d]", j.FirstIndex(), j.LastIndex(), o.first, o.durable)
	}
	for i := o.first; i <= o.durable; i++ {
		got, err := j.ReadBytes(i, nil)
		if err != nil || !bytes.Equal(got, o.entries[i-o.first]) {
			return fmt.Sprintf("entry %d: %v", i, err)
		}
	}
	return ""
}

// TestCrashFaultMisdirect persists one sector of each segment sync in turn
// at the wrong place (a page or a sector away, forwards or back): the sync
// reports success, so this is silent damage. After a crash, Open and every
// read either return the acknowledged bytes exactly or report ErrCorrupt:
// no wrong byte is ever returned, nothing panics. Acknowledged entries that
// are lost without an error can only be those of the last sync round (the
// documented gap of the checkpoint); the test counts the outcomes.
func TestCrashFaultMisdirect(t *testing.T) {
	var cases, corruptOpen, corruptRead, trimmed, intact int
	for _, shift := range []int64{crashfs.PageSize, -crashfs.PageSize, crashfs.SectorSize, 3 * crashfs.PageSize} {
		for skip := 0; ; skip++ {
			r := newCrashRun(t, fmt.Sprintf("misdirect %+d skip %d", shift, skip), SyncEach)
			r.open()
			r.fs.Inject(crashfs.Fault{Kind: crashfs.Misdirect, Path: ".seg", Skip: skip, Shift: shift})
			for _, s := range faultWorkload {
				if !r.do(s) {
					break
				}
			}
			if r.fs.Fired() == 0 {
				r.close()
				break
			}
			cases++
			snap := r.crash()
			img, err := snap.Image(crashfs.AllOld)
			if err != nil {
				t.Fatal(err)
			}
			j, err := Open(crashDir, r.options(img))
			switch {
			case err != nil && (errors.Is(err, ErrCorrupt) || errors.Is(err, ErrForeign)):
				// A sector landing on a segment header reads as a
				// foreign file: damage, typed and reported.
				corruptOpen++
			case err != nil:
				r.fail("Open after a misdirected write: %v, want success or ErrCorrupt", err)
			default:
				res := misdirectReads(r, j)
				switch res {
				case "corrupt":
					corruptRead++
				case "trimmed":
					trimmed++
				default:
					intact++
				}
				if err := j.Close(); err != nil {
					r.fail("Close after a misdirected write (reads %s): %v", res, err)
				}
			}
			releaseFS(img)
			r.close()
		}
	}
	if cases == 0 {
		t.Fatal("no misdirected write fired")
	}
	t.Logf("%d misdirected writes: %d reported by Open, %d by a read, %d trimmed entries of the last sync round without an error (the lagging checkpoint does not cover them), %d harmless", cases, corruptOpen, corruptRead, trimmed, intact)
}

// misdirectReads reads every entry of a journal recovered after a
// misdirected write and classifies the outcome; a wrong byte fails.
func misdirectReads(r *crashRun, j *Journal) string {
	o := r.o
	if j.FirstIndex() != o.first || j.LastIndex() > o.last() {
		r.fail("recovered range [%d,%d] outside [%d,%d]", j.FirstIndex(), j.LastIndex(), o.first, o.last())
	}
	res := "intact"
	for i := j.FirstIndex(); i <= j.LastIndex(); i++ {
		got, err := j.ReadBytes(i, nil)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				r.fail("entry %d: %v, want ErrCorrupt", i, err)
			}
			res = "corrupt"
			continue
		}
		if !bytes.Equal(got, o.entries[i-o.first]) {
			r.fail("entry %d returned wrong bytes after a misdirected write", i)
		}
	}
	if res == "intact" && j.LastIndex() < o.durable {
		res = "trimmed"
		// Only the last round's entries lie outside the checkpoint
		// (which records the round before it) and the trailers.
		if n := len(r.marks); n >= 2 && j.LastIndex() < r.marks[n-2] {
			r.fail("entries %d..%d, durable before the last sync round, trimmed without an error", j.LastIndex()+1, r.marks[n-2])
		}
	}
	return res
}
