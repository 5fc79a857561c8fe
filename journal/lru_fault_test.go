package journal

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/spoolhq/spool/mmapio"
	"github.com/spoolhq/spool/mmapio/crashfs"
)

// errLRUInjected is the failure lruFaultFS injects into an Open or a Map.
var errLRUInjected = errors.New("lru test: injected failure")

// lruFaultFS fails the next Open of a segment file, or the next Map of a
// segment file it opened, when armed; everything else passes through to
// the FS beneath (crashfs, which injects read errors itself).
type lruFaultFS struct {
	mmapio.FS
	failOpen atomic.Bool
	failMap  atomic.Bool
}

func (f *lruFaultFS) Open(name string, writable bool) (mmapio.File, error) {
	seg := strings.HasSuffix(name, ".seg")
	if seg && f.failOpen.CompareAndSwap(true, false) {
		return nil, errLRUInjected
	}
	file, err := f.FS.Open(name, writable)
	if err != nil || !seg {
		return file, err
	}
	return &lruFaultFile{File: file, fs: f}, nil
}

type lruFaultFile struct {
	mmapio.File
	fs *lruFaultFS
}

func (f *lruFaultFile) Map(off int64, length int, writable bool) (mmapio.Mapping, error) {
	if f.fs.failMap.CompareAndSwap(true, false) {
		return nil, errLRUInjected
	}
	return f.File.Map(off, length, writable)
}

// TestLRUFaultsOnReload runs an eviction-heavy workload (cap 1: nearly
// every read reloads a segment) on the crashable FS with failures injected
// into the reloads: the reopen of the file, its map, and the pread of its
// header. Each failed read returns an error that wraps the injected one,
// names the segment, and is not damage (not ErrCorrupt): the next read of
// the segment reloads it. Appends acknowledged durable meanwhile all
// survive a crash. Then a segment damaged on disk while evicted fails its
// reload with ErrCorrupt, naming the file, for every later read too.
func TestLRUFaultsOnReload(t *testing.T) {
	base := crashfs.New()
	defer releaseFS(base)
	ffs := &lruFaultFS{FS: base}
	o := &Options{FS: ffs, SegmentSize: testSegSize, Sync: SyncEach, MaxOpenSegments: 1, spare: spareInline}
	j, err := Open(crashDir, o)
	if err != nil {
		t.Fatal(err)
	}
	last := buildLongLog(t, j, 12)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if j, err = Open(crashDir, o); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if j != nil {
			j.crashClose()
		}
	}()

	// Every segment loaded (and evicted) once, so that the faults below
	// hit reloads, not first loads.
	checkEntries(t, j, 1, last, lruSize)

	rounds := envIntShort("SPOOL_LRU_FAULT_ROUNDS", 1500, 400)
	r := rand.New(rand.NewPCG(5, 5))
	injected := 0 // crashfs read faults armed
	var failures [3]int
	for n := range rounds {
		armed := ffs.failOpen.Load() || ffs.failMap.Load() || base.Fired() < injected
		if !armed {
			switch r.IntN(6) {
			case 0:
				ffs.failOpen.Store(true)
			case 1:
				ffs.failMap.Store(true)
			case 2:
				base.Inject(crashfs.Fault{Kind: crashfs.ReadEIO, Path: ".seg"})
				injected++
			}
		}
		if n%5 == 0 {
			// SyncEach: acknowledged means durable when it returns.
			i := j.LastIndex() + 1
			if idx, err := j.AppendBytes(payload(i, lruSize(i))); err != nil || idx != i {
				t.Fatalf("append %d: %d, %v", i, idx, err)
			}
			last = i
		}
		i := 1 + r.Uint64N(last)
		b, err := j.ReadBytes(i, nil)
		if err != nil {
			switch {
			case errors.Is(err, ErrCorrupt) || errors.Is(err, ErrFailed):
				t.Fatalf("read %d: a failed reload reported as damage or failure: %v", i, err)
			case !strings.Contains(err.Error(), ".seg"):
				t.Fatalf("read %d: error names no segment file: %v", i, err)
			case errors.Is(err, errLRUInjected) && strings.Contains(err.Error(), "reopen"):
				failures[0]++
			case errors.Is(err, errLRUInjected) && strings.Contains(err.Error(), "map"):
				failures[1]++
			case errors.Is(err, crashfs.ErrInjected) && errors.Is(err, syscall.EIO):
				failures[2]++
			default:
				t.Fatalf("read %d: unexpected error: %v", i, err)
			}
			// Not sticky: the fault fired once, so the read succeeds.
			if b, err = j.ReadBytes(i, nil); err != nil {
				t.Fatalf("read %d after a failed reload: %v", i, err)
			}
		}
		if !bytes.Equal(b, payload(i, lruSize(i))) {
			t.Fatalf("entry %d differs", i)
		}
	}
	for k, name := range []string{"open", "map", "read"} {
		if failures[k] == 0 {
			t.Fatalf("no reload failed on %s: the test did not exercise it (failures %v)", name, failures)
		}
	}
	if j.bound.reloads.Load() == 0 {
		t.Fatal("no reload")
	}
	t.Logf("failed reloads (open, map, read): %v; %d evictions, %d reloads", failures, j.bound.evictions.Load(), j.bound.reloads.Load())

	// Crash: every acknowledged entry is there after recovery, on images
	// where unsynced writes land or not.
	snap := base.Crash()
	j.crashClose()
	j = nil
	for seed := range uint64(4) {
		img, err := snap.Image(crashfs.Random(seed))
		if err != nil {
			t.Fatal(err)
		}
		oi := *o
		oi.FS = img
		k, err := Open(crashDir, &oi)
		if err != nil {
			t.Fatalf("image %d: Open: %v", seed, err)
		}
		if k.LastIndex() < last {
			t.Fatalf("image %d: last index %d, %d were acknowledged", seed, k.LastIndex(), last)
		}
		checkEntries(t, k, 1, k.LastIndex(), lruSize)
		if seed == 0 {
			lruDamageEvicted(t, k, img)
		}
		if err := k.Close(); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatal(err)
		}
		releaseFS(img)
	}
}

// lruDamageEvicted overwrites the trailer of an evicted segment on disk and
// checks that its reload reports damage, naming the file, and keeps
// reporting it.
func lruDamageEvicted(t *testing.T, j *Journal, fsys *crashfs.FS) {
	t.Helper()
	j.settleBound()
	segs := j.segs.Load().segs
	var s *segment
	for _, c := range segs[1 : len(segs)-1] {
		if !c.loaded.Load() && c.count.Load() > 0 {
			s = c
			break
		}
	}
	if s == nil {
		t.Fatal("no evicted segment to damage")
	}
	f, err := fsys.Open(s.path, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, trailerSize), s.trailerOff()); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	for range 2 {
		_, err := j.ReadBytes(s.first, nil)
		var ce *CorruptError
		if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) || ce.Path != s.path {
			t.Fatalf("read %d of a segment damaged while evicted: %v, want ErrCorrupt naming %s", s.first, err, s.path)
		}
	}
	// Other segments still read.
	other := segs[len(segs)-2]
	if other == s {
		other = segs[0]
	}
	if _, err := j.ReadBytes(other.first, nil); err != nil && other.count.Load() > 0 {
		t.Fatalf("read %d: %v", other.first, err)
	}
}
