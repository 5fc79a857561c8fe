package journal

import (
	"bytes"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spoolhq/spool/mmapio"
	"github.com/spoolhq/spool/mmapio/crashfs"
)

// gateRemoved holds the teardown (Unmap, Close) of the segments that a
// front cut at idx removes, and returns the function that lets it go
// (idempotent).
func gateRemoved(t *testing.T, j *Journal, cfs *syncCountFS, idx uint64) (release func(), n int) {
	t.Helper()
	ss := j.segs.Load()
	keep := ss.indexOf(ss.find(idx))
	if keep < 1 {
		t.Fatalf("setup: a cut at %d removes no segment", idx)
	}
	cfs.mu.Lock()
	cfs.gate = map[*syncCountFile]bool{}
	for _, s := range ss.segs[:keep] {
		f, ok := s.file.(*syncCountFile)
		if !ok {
			t.Fatalf("setup: segment %s is not loaded through the counting FS", s.path)
		}
		cfs.gate[f] = true
	}
	cfs.release = make(chan struct{})
	cfs.entered = make(chan struct{}, 4*keep)
	cfs.mu.Unlock()
	cfs.live.Store(int64(keep))
	var once sync.Once
	return func() { once.Do(func() { close(cfs.release) }) }, keep
}

// waitFor waits for c; the deadline only guards against a hang, it is no
// expectation of speed.
func waitFor(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: not after 60s", what)
	}
}

// TestCutTeardownOffCallerPath holds the unmap and close of the segments a
// TruncateFront removes: the call must return while they are held (the
// reaper tears them down, not the caller), and Close must not return before
// they are done, so that no mapping or descriptor outlives it.
func TestCutTeardownOffCallerPath(t *testing.T) {
	cfs := &syncCountFS{FS: crashfs.New()}
	defer releaseFS(cfs.FS.(*crashfs.FS))
	j := mustOpen(t, crashDir, &Options{FS: cfs, SegmentSize: testSegSize, Sync: SyncEach, spare: spareInline})
	for i := 1; i <= 40; i++ {
		mustAppend(t, j, payload(uint64(i), 5000))
	}
	release, n := gateRemoved(t, j, cfs, 30)
	defer release()

	cut := make(chan struct{})
	var cutErr error
	go func() {
		defer close(cut)
		cutErr = j.TruncateFront(30)
	}()
	waitFor(t, cfs.entered, "teardown of a removed segment")
	waitFor(t, cut, "TruncateFront while the teardown of the segments it removed is held (it waits for the teardown)")
	if cutErr != nil {
		t.Fatal(cutErr)
	}
	if got, err := j.ReadBytes(30, nil); err != nil || !bytes.Equal(got, payload(30, 5000)) {
		t.Fatalf("entry 30 after the cut: %v", err)
	}

	closed := make(chan struct{})
	var closeErr error
	go func() {
		defer close(closed)
		closeErr = j.Close()
	}()
	select {
	case <-closed:
		t.Fatalf("Close returned while the teardown of %d removed segments was held", n)
	case <-time.After(100 * time.Millisecond):
		// Not a wait for anything: a Close that does not wait for the
		// teardown returns within it, one that does never does.
	}
	release()
	waitFor(t, closed, "Close after the teardown was let go")
	if closeErr != nil {
		t.Fatal(closeErr)
	}
	if live := cfs.live.Load(); live != 0 {
		t.Fatalf("%d mappings of removed segments outlived Close", live)
	}
}

// TestCutTeardownCrash crashes the disk while the teardown of removed
// segments is held, abandons the journal, and recovers the crash image:
// the cut is there, and nothing else is lost.
func TestCutTeardownCrash(t *testing.T) {
	base := crashfs.New()
	defer releaseFS(base)
	cfs := &syncCountFS{FS: base}
	j := mustOpen(t, crashDir, &Options{FS: cfs, SegmentSize: testSegSize, Sync: SyncEach, spare: spareInline})
	for i := 1; i <= 40; i++ {
		mustAppend(t, j, payload(uint64(i), 5000))
	}
	release, _ := gateRemoved(t, j, cfs, 30)
	defer release()
	cut := make(chan struct{})
	var cutErr error
	go func() {
		defer close(cut)
		cutErr = j.TruncateFront(30)
	}()
	waitFor(t, cfs.entered, "teardown of a removed segment")
	waitFor(t, cut, "TruncateFront while the teardown of the segments it removed is held (it waits for the teardown)")
	if cutErr != nil {
		t.Fatal(cutErr)
	}
	snap := base.Crash()
	abandoned := make(chan struct{})
	go func() {
		defer close(abandoned)
		j.crashClose()
	}()
	release()
	waitFor(t, abandoned, "crashClose after the teardown was let go")
	for _, d := range []crashfs.Decider{crashfs.AllNew, crashfs.AllOld} {
		img, err := snap.Image(d)
		if err != nil {
			t.Fatal(err)
		}
		r := mustOpen(t, crashDir, &Options{FS: img, SegmentSize: testSegSize})
		if r.FirstIndex() != 30 || r.LastIndex() != 40 {
			t.Errorf("recovered [%d, %d], want [30, 40]", r.FirstIndex(), r.LastIndex())
		}
		for i := uint64(30); i <= 40; i++ {
			if got, err := r.ReadBytes(i, nil); err != nil || !bytes.Equal(got, payload(i, 5000)) {
				t.Errorf("entry %d: %v", i, err)
			}
		}
		closeOK(t, r)
		releaseFS(img)
	}
}

// punchFixture is a journal on the OS file system with four sealed 1 MiB
// segments of 4000-byte entries and an active one.
func punchFixture(t *testing.T) (*Journal, string, *Options) {
	t.Helper()
	dir := t.TempDir()
	o := &Options{SegmentSize: 1 << 20, Sync: PageCache}
	j := mustOpen(t, dir, o)
	for i := uint64(1); i <= 1200; i++ {
		mustAppend(t, j, payload(i, 4000))
	}
	mustSync(t, j)
	if n := len(j.segs.Load().segs); n < 4 {
		t.Fatalf("setup: %d segments", n)
	}
	return j, dir, o
}

func fileBlocks(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// TestCutPunchesPrefix cuts the front of the log inside a sealed segment
// and checks that the segment's dead prefix no longer holds disk blocks,
// that every kept entry reads, and that a reopened journal and Verify find
// no damage below the first index.
func TestCutPunchesPrefix(t *testing.T) {
	j, dir, o := punchFixture(t)
	s := j.segs.Load().segs[1]
	idx := s.first + uint64(s.count.Load())*6/10
	off := s.slot(uint32(idx - s.first))
	before := fileBlocks(t, s.path)
	if err := j.TruncateFront(idx); err != nil {
		t.Fatal(err)
	}
	after := fileBlocks(t, s.path)
	if j.reaper.noPunch {
		t.Skipf("the file system of %s cannot punch holes", dir)
	}
	want := (off &^ (punchAlign - 1)) - dataStart
	t.Logf("cut at entry %d (offset %d of %s): %d of %d bytes of blocks freed, %d punched", idx, off, filepath.Base(s.path), before-after, before, j.reaper.punched.Load())
	if before-after < want {
		t.Fatalf("%d bytes of blocks freed in the partly cut segment, want at least %d", before-after, want)
	}
	for i := idx; i <= j.LastIndex(); i++ {
		if got, err := j.ReadBytes(i, nil); err != nil || !bytes.Equal(got, payload(i, 4000)) {
			t.Fatalf("entry %d after the punch: %v", i, err)
		}
	}
	closeOK(t, j)
	rep, err := Verify(dir, o)
	if err != nil || rep.Problem != nil {
		t.Fatalf("Verify after the punch: %v, %v", err, rep.Problem)
	}
	j = mustOpen(t, dir, o)
	defer closeOK(t, j)
	if j.FirstIndex() != idx {
		t.Fatalf("reopened first %d, want %d", j.FirstIndex(), idx)
	}
	for i := idx; i <= j.LastIndex(); i++ {
		if got, err := j.ReadBytes(i, nil); err != nil || !bytes.Equal(got, payload(i, 4000)) {
			t.Fatalf("entry %d after reopen: %v", i, err)
		}
	}
}

// TestCutPunchWaitsForReaders holds a view of an entry below the cut
// across the cut: the segment is not punched under it and the view's
// bytes stay the entry's; once it is released, the next cut punches.
func TestCutPunchWaitsForReaders(t *testing.T) {
	j, _, _ := punchFixture(t)
	defer closeOK(t, j)
	s := j.segs.Load().segs[1]
	old := s.first + 3
	v, err := j.Get(old)
	if err != nil {
		t.Fatal(err)
	}
	idx := s.first + uint64(s.count.Load())/2
	if err := j.TruncateFront(idx); err != nil {
		t.Fatal(err)
	}
	r := &j.reaper
	if r.punched.Load() != 0 || r.punchSkipped.Load() != 1 {
		t.Fatalf("punched %d bytes, skipped %d, with a reader pinning the segment", r.punched.Load(), r.punchSkipped.Load())
	}
	got, err := v.AppendTo(nil)
	if err != nil || !bytes.Equal(got, payload(old, 4000)) {
		t.Fatalf("pinned view of cut entry %d: %v", old, err)
	}
	v.Release()
	if err := j.TruncateFront(idx + 10); err != nil {
		t.Fatal(err)
	}
	if r.punched.Load() == 0 && !r.noPunch {
		t.Fatal("no punch once the reader let go")
	}
}

// TestCutPunchFaults fails the punch (EIO, then a file system without
// it) on the crashable FS: the cut succeeds, the journal stays healthy, an
// unsupported punch is not tried again, and the log reopens whole.
func TestCutPunchFaults(t *testing.T) {
	for _, tc := range []struct {
		name        string
		arm         func(*crashfs.FS)
		unsupported bool
	}{
		{"eio", func(fs *crashfs.FS) { fs.Inject(crashfs.Fault{Kind: crashfs.PunchFail}) }, false},
		{"eopnotsupp", func(fs *crashfs.FS) {
			fs.Inject(crashfs.Fault{Kind: crashfs.PunchFail, Errno: syscall.EOPNOTSUPP})
		}, false},
		{"no punch", func(fs *crashfs.FS) { fs.SetPunch(false) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := crashfs.New()
			defer releaseFS(fs)
			o := &Options{FS: fs, SegmentSize: testSegSize, Sync: SyncEach, spare: spareInline}
			j := mustOpen(t, crashDir, o)
			for i := uint64(1); i <= 60; i++ {
				mustAppend(t, j, payload(i, 3000))
			}
			tc.arm(fs)
			fs.SetTrace(true)
			s := j.segs.Load().segs[1]
			for _, idx := range []uint64{s.first + 5, s.first + 8} {
				if err := j.TruncateFront(idx); err != nil {
					t.Fatalf("TruncateFront(%d) with a failing punch: %v", idx, err)
				}
			}
			if err := j.Err(); err != nil {
				t.Fatalf("journal failed: %v", err)
			}
			punches := 0
			for _, l := range fs.Trace() {
				if strings.Contains(l, " punch ") {
					punches++
				}
			}
			r := &j.reaper
			switch tc.name {
			case "eio":
				if r.punchFailed.Load() != 1 || punches != 2 {
					t.Fatalf("failed %d, punches %d: want the failure counted and the next cut to punch", r.punchFailed.Load(), punches)
				}
			case "eopnotsupp":
				// An injected EOPNOTSUPP is an I/O error like any other
				// to the journal: only mmapio.ErrNoPunch means "never".
				if r.noPunch || punches != 2 {
					t.Fatalf("noPunch %v, punches %d", r.noPunch, punches)
				}
			case "no punch":
				if !r.noPunch || punches != 0 {
					t.Fatalf("noPunch %v, punches %d: want ErrNoPunch remembered", r.noPunch, punches)
				}
			}
			mustAppend(t, j, payload(61, 3000))
			closeOK(t, j)
			j = mustOpen(t, crashDir, o)
			defer closeOK(t, j)
			if j.FirstIndex() != s.first+8 || j.LastIndex() != 61 {
				t.Fatalf("reopened [%d, %d]", j.FirstIndex(), j.LastIndex())
			}
			for i := j.FirstIndex(); i <= j.LastIndex(); i++ {
				if got, err := j.ReadBytes(i, nil); err != nil || !bytes.Equal(got, payload(i, 3000)) {
					t.Fatalf("entry %d: %v", i, err)
				}
			}
		})
	}
}

var _ mmapio.HolePuncher = (*syncCountFile)(nil)
