package crashfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"sync"
	"syscall"
	"testing"

	"github.com/spoolhq/spool/mmapio"
)

func newFS(t *testing.T) *FS {
	t.Helper()
	f := New()
	t.Cleanup(func() { f.Close() })
	if err := f.MkdirAll("/d"); err != nil {
		t.Fatal(err)
	}
	return f
}

func image(t *testing.T, s *Snapshot, d Decider) *FS {
	t.Helper()
	img, err := s.Image(d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	return img
}

func readAll(t *testing.T, f *FS, name string) []byte {
	t.Helper()
	h, err := f.Open(name, false)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	defer h.Close()
	n, _ := h.Size()
	b := make([]byte, n)
	if _, err := h.ReadAt(b, 0); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return b
}

func mustCreate(t *testing.T, f *FS, name string, data []byte, sync bool) mmapio.File {
	t.Helper()
	h, err := f.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := h.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := f.SyncDir("/d"); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func TestSyncedSurvivesUnsyncedDecided(t *testing.T) {
	f := newFS(t)
	a := bytes.Repeat([]byte{'a'}, 2*PageSize)
	h := mustCreate(t, f, "/d/x", a, true)
	b := bytes.Repeat([]byte{'b'}, 2*PageSize)
	if _, err := h.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
	s := f.Crash()
	if n := len(s.Units()); n != 2 {
		t.Fatalf("%d units, want the 2 rewritten pages: %v", n, s.Units())
	}
	if got := readAll(t, image(t, s, AllOld), "/d/x"); !bytes.Equal(got, a) {
		t.Fatal("AllOld image does not hold the synced bytes")
	}
	if got := readAll(t, image(t, s, AllNew), "/d/x"); !bytes.Equal(got, b) {
		t.Fatal("AllNew image does not hold the written bytes")
	}
	got := readAll(t, image(t, s, Omit(1)), "/d/x")
	if !bytes.Equal(got[:PageSize], b[:PageSize]) || !bytes.Equal(got[PageSize:], a[PageSize:]) {
		t.Fatal("Omit(1) did not keep exactly the second page old")
	}
	if _, err := h.WriteAt(b, 0); !errors.Is(err, ErrCrashed) {
		t.Fatalf("write after crash: %v, want ErrCrashed", err)
	}
}

func TestTornSectors(t *testing.T) {
	f := newFS(t)
	h := mustCreate(t, f, "/d/x", bytes.Repeat([]byte{1}, PageSize), true)
	h.WriteAt(bytes.Repeat([]byte{2}, PageSize), 0)
	s := f.Crash()
	pattern := []Sector{SectorOld, SectorNew, SectorGarbage, SectorNew, SectorOld, SectorOld, SectorNew, SectorGarbage}
	got := readAll(t, image(t, s, sectorDecider(pattern)), "/d/x")
	for k, fate := range pattern {
		sec := got[k*SectorSize : (k+1)*SectorSize]
		switch {
		case fate == SectorOld && !bytes.Equal(sec, bytes.Repeat([]byte{1}, SectorSize)),
			fate == SectorNew && !bytes.Equal(sec, bytes.Repeat([]byte{2}, SectorSize)),
			fate == SectorGarbage && (bytes.Equal(sec, bytes.Repeat([]byte{1}, SectorSize)) || bytes.Equal(sec, bytes.Repeat([]byte{2}, SectorSize))):
			t.Fatalf("sector %d does not hold its fate %d", k, fate)
		}
	}
}

type sectorDecider []Sector

func (d sectorDecider) Page(_ Unit, fate []Sector) { copy(fate, d) }
func (d sectorDecider) Land(Unit) bool             { return true }

func TestDirectoryOperations(t *testing.T) {
	f := newFS(t)
	mustCreate(t, f, "/d/keep", []byte("k"), true)
	mustCreate(t, f, "/d/gone", []byte("g"), true)
	h := mustCreate(t, f, "/d/tmp", []byte("t"), false)
	h.Sync() // data durable, name not
	if err := f.Rename("/d/tmp", "/d/final"); err != nil {
		t.Fatal(err)
	}
	if err := f.Remove("/d/gone"); err != nil {
		t.Fatal(err)
	}
	s := f.Crash()
	names := func(img *FS) string {
		l, err := img.List("/d")
		if err != nil {
			t.Fatal(err)
		}
		return string(bytes.Join(toBytes(l), []byte(",")))
	}
	if got := names(image(t, s, AllOld)); got != "gone,keep" {
		t.Fatalf("AllOld: %s", got)
	}
	if got := names(image(t, s, AllNew)); got != "final,keep" {
		t.Fatalf("AllNew: %s", got)
	}
	// The rename alone lands: the target names the file created under the
	// temporary name, and the temporary name is gone.
	img := image(t, s, Only(1))
	if got := names(img); got != "final,gone,keep" {
		t.Fatalf("rename only: %s", got)
	}
	if got := readAll(t, img, "/d/final"); string(got) != "t" {
		t.Fatalf("renamed file holds %q", got)
	}
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func TestMappingSyncCoversEnclosingPagesOnly(t *testing.T) {
	f := newFS(t)
	h, _ := f.Create("/d/m")
	page := mmapio.PageSize()
	if err := h.Allocate(int64(4 * page)); err != nil {
		t.Fatal(err)
	}
	h.Sync()
	f.SyncDir("/d")
	m, err := h.Map(0, 4*page, true)
	if err != nil {
		t.Fatal(err)
	}
	b := m.Bytes()
	for i := range b {
		b[i] = 7
	}
	if err := m.Sync(page+10, 20); err != nil { // widened to page 1
		t.Fatal(err)
	}
	s := f.Crash()
	got := readAll(t, image(t, s, AllOld), "/d/m")
	for p := 0; p < 4; p++ {
		want := byte(0)
		if p == 1 {
			want = 7
		}
		if got[p*page] != want || got[(p+1)*page-1] != want {
			t.Fatalf("page %d after msync of page 1 only: %d", p, got[p*page])
		}
	}
	if err := m.Unmap(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentStoresAndSyncs is what the journal does: stores into mapped
// pages from one goroutine while another syncs them. It must be clean under
// -race, and whatever a completed sync covered must be in the image.
func TestConcurrentStoresAndSyncs(t *testing.T) {
	f := newFS(t)
	h, _ := f.Create("/d/m")
	const size = 16 * PageSize
	h.Allocate(size)
	f.SyncDir("/d")
	m, _ := h.Map(0, size, true)
	b := m.Bytes()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range b {
			b[i] = byte(i)
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 100; i++ {
			if err := m.Sync(0, size); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
	if err := m.Sync(0, size); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, image(t, f.Crash(), AllOld), "/d/m")
	for i := range got {
		if got[i] != byte(i) {
			t.Fatalf("byte %d = %d after a final sync", i, got[i])
		}
	}
	m.Unmap()
}

func TestCrashAfterNumbersOperations(t *testing.T) {
	f := newFS(t)
	h, _ := f.Create("/d/x") // op 1
	f.CrashAfter(2)
	if _, err := h.WriteAt([]byte("a"), 0); err != nil { // op 2
		t.Fatal(err)
	}
	if err := h.Sync(); err != nil { // op 3
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("b"), 0); !errors.Is(err, ErrCrashed) { // op 4: the crash
		t.Fatalf("op 4: %v", err)
	}
	s := f.Crashed()
	if s == nil || s.Ops() != 3 {
		t.Fatalf("snapshot after %d ops, want 3", s.Ops())
	}
	if err := f.SyncDir("/d"); !errors.Is(err, ErrCrashed) {
		t.Fatalf("syncdir after the crash: %v", err)
	}
	// The file's name was never synced: in the image it exists only when
	// its create lands.
	if l, _ := image(t, s, AllOld).List("/d"); len(l) != 0 {
		t.Fatalf("unsynced create survived AllOld: %v", l)
	}
	if got := readAll(t, image(t, s, AllNew), "/d/x"); string(got) != "a" {
		t.Fatalf("AllNew: %q", got)
	}
}

func TestRandomImagesAreDeterministic(t *testing.T) {
	f := newFS(t)
	h := mustCreate(t, f, "/d/x", make([]byte, 8*PageSize), true)
	h.WriteAt(bytes.Repeat([]byte{9}, 8*PageSize), 0)
	s := f.Crash()
	a := readAll(t, image(t, s, Random(42)), "/d/x")
	b := readAll(t, image(t, s, Random(42)), "/d/x")
	if !bytes.Equal(a, b) {
		t.Fatal("two images from one seed differ")
	}
	differs := false
	for seed := uint64(1); seed < 20 && !differs; seed++ {
		differs = !bytes.Equal(a, readAll(t, image(t, s, Random(seed)), "/d/x"))
	}
	if !differs {
		t.Fatal("20 seeds gave the same image")
	}
}

func TestFsyncgate(t *testing.T) {
	f := newFS(t)
	h := mustCreate(t, f, "/d/x", make([]byte, PageSize), true)
	h.WriteAt(bytes.Repeat([]byte{5}, PageSize), 0)
	f.Inject(Fault{Kind: SyncEIO})
	if err := h.Sync(); !errors.Is(err, syscall.EIO) || !errors.Is(err, ErrInjected) {
		t.Fatalf("sync: %v, want injected EIO", err)
	}
	// A retry succeeds but writes nothing: the page was marked clean.
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	s := f.Crash()
	if len(s.Units()) != 0 {
		t.Fatalf("a page a failed sync marked clean is a unit: %v", s.Units())
	}
	if got := readAll(t, image(t, s, AllNew), "/d/x"); got[0] != 0 {
		t.Fatal("bytes a failed sync dropped reached the disk")
	}
}

func TestWriteFaults(t *testing.T) {
	f := newFS(t)
	h, _ := f.Create("/d/x")
	f.Inject(Fault{Kind: WriteENOSPC, Path: "x", At: 3})
	n, err := h.WriteAt([]byte("abcdef"), 0)
	if n != 3 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("ENOSPC at byte 3: n=%d err=%v", n, err)
	}
	f.Inject(Fault{Kind: ShortWrite, Skip: 1, At: 2})
	if n, err := h.WriteAt([]byte("xy"), 10); n != 2 || err != nil {
		t.Fatalf("skipped write: %d %v", n, err)
	}
	if n, err := h.WriteAt([]byte("uvw"), 20); n != 2 || !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short write: n=%d err=%v", n, err)
	}
	f.Inject(Fault{Kind: ReadEIO})
	if _, err := h.ReadAt(make([]byte, 1), 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read: %v", err)
	}
	f.Inject(Fault{Kind: AllocENOSPC})
	if err := h.Allocate(1 << 20); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("allocate: %v", err)
	}
	f.Inject(Fault{Kind: SyncDirEIO})
	if err := f.SyncDir("/d"); !errors.Is(err, syscall.EIO) {
		t.Fatalf("syncdir: %v", err)
	}
	if f.Fired() != 5 {
		t.Fatalf("%d faults fired, want 5", f.Fired())
	}
}

func TestCapacity(t *testing.T) {
	f := newFS(t)
	f.SetCapacity(3 * PageSize)
	a, _ := f.Create("/d/a")
	if err := a.Allocate(2 * PageSize); err != nil {
		t.Fatal(err)
	}
	b, _ := f.Create("/d/b")
	if err := b.Allocate(2 * PageSize); !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrNoSpace) {
		t.Fatalf("allocate past capacity: %v", err)
	}
	n, err := b.WriteAt(make([]byte, 2*PageSize), 0)
	if n != PageSize || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write past capacity: n=%d err=%v", n, err)
	}
	// Space comes back once the file is unlinked and closed.
	f.Remove("/d/a")
	a.Close()
	if err := b.Allocate(3 * PageSize); err != nil {
		t.Fatalf("after freeing: %v", err)
	}
}

func TestMisdirect(t *testing.T) {
	f := newFS(t)
	h := mustCreate(t, f, "/d/x", make([]byte, 4*PageSize), true)
	h.WriteAt(bytes.Repeat([]byte{3}, SectorSize), PageSize)
	f.Inject(Fault{Kind: Misdirect, Shift: 2 * PageSize})
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, image(t, f.Crash(), AllOld), "/d/x")
	if got[PageSize] != 0 || got[3*PageSize] != 3 || got[3*PageSize+SectorSize-1] != 3 {
		t.Fatal("the sector did not land two pages away, or its place changed")
	}
}

func TestErrorsAndMisuse(t *testing.T) {
	f := newFS(t)
	if _, err := f.Open("/d/none", false); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("open missing: %v", err)
	}
	mustCreate(t, f, "/d/x", []byte("x"), false)
	if _, err := f.Create("/d/x"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("create existing: %v", err)
	}
	if _, err := f.List("/nodir"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("list missing dir: %v", err)
	}
	l, err := f.Lock("/d/LOCK")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Lock("/d/LOCK"); !errors.Is(err, mmapio.ErrLocked) {
		t.Fatalf("second lock: %v", err)
	}
	l.Close()
	h, _ := f.Create("/d/m")
	h.Allocate(int64(mmapio.PageSize()))
	m, err := h.Map(0, mmapio.PageSize(), true)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Truncate(0); !errors.Is(err, mmapio.ErrMapped) {
		t.Fatalf("shrink under a mapping: %v", err)
	}
	if _, err := h.Map(0, 2*mmapio.PageSize(), true); err == nil {
		t.Fatal("map past end succeeded")
	}
	if err := m.Sync(0, 2*mmapio.PageSize()); err == nil {
		t.Fatal("sync outside the mapping succeeded")
	}
	m.Unmap()
	if err := m.Unmap(); !errors.Is(err, mmapio.ErrClosed) {
		t.Fatalf("second unmap: %v", err)
	}
	h.Close()
	if _, err := h.ReadAt(make([]byte, 1), 0); !errors.Is(err, mmapio.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
}

func TestRandomTornTearsOnlyChangedSectors(t *testing.T) {
	f := newFS(t)
	old := bytes.Repeat([]byte{1}, 64*PageSize)
	h := mustCreate(t, f, "/d/x", old, true)
	// Rewrite every other sector; the rest keep their bytes.
	b := bytes.Clone(old)
	for s := 0; s < len(b); s += 2 * SectorSize {
		for i := s; i < s+SectorSize; i++ {
			b[i] = 2
		}
	}
	h.WriteAt(b, 0)
	snap := f.Crash()
	sawGarbage := false
	for seed := uint64(0); seed < 8; seed++ {
		got := readAll(t, image(t, snap, RandomTorn(seed)), "/d/x")
		for s := 0; s < len(got); s += SectorSize {
			sec := got[s : s+SectorSize]
			isOld, isNew := bytes.Equal(sec, old[s:s+SectorSize]), bytes.Equal(sec, b[s:s+SectorSize])
			if !isOld && !isNew {
				if (s/SectorSize)%2 == 1 {
					t.Fatalf("seed %d: sector %d, never rewritten, tore", seed, s/SectorSize)
				}
				sawGarbage = true
			}
		}
		// Random never tears.
		got = readAll(t, image(t, snap, Random(seed)), "/d/x")
		for s := 0; s < len(got); s += SectorSize {
			if !bytes.Equal(got[s:s+SectorSize], old[s:s+SectorSize]) && !bytes.Equal(got[s:s+SectorSize], b[s:s+SectorSize]) {
				t.Fatalf("Random tore sector %d", s/SectorSize)
			}
		}
	}
	if !sawGarbage {
		t.Fatal("RandomTorn never tore a sector in 8 images of 64 pages")
	}
}

func TestInvalidArguments(t *testing.T) {
	f := newFS(t)
	h, _ := f.Create("/d/x")
	if _, err := h.WriteAt([]byte("a"), -1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative write offset: %v", err)
	}
	if _, err := h.ReadAt(make([]byte, 1), -1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative read offset: %v", err)
	}
	if _, err := h.Map(1, 10, true); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unaligned map: %v", err)
	}
}

// TestClosedFSRefusesWrites: after Close, a write, a sync and a create fail
// with ErrClosed instead of succeeding into memory that was released.
func TestClosedFSRefusesWrites(t *testing.T) {
	f := New()
	if err := f.MkdirAll("/d"); err != nil {
		t.Fatal(err)
	}
	h := mustCreate(t, f, "/d/x", []byte("abc"), true)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.WriteAt([]byte("z"), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close: %v, want ErrClosed", err)
	}
	if err := h.Sync(); !errors.Is(err, ErrClosed) {
		t.Fatalf("sync after Close: %v, want ErrClosed", err)
	}
	if _, err := f.Create("/d/y"); !errors.Is(err, ErrClosed) {
		t.Fatalf("create after Close: %v, want ErrClosed", err)
	}
}
