package journal

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/spoolhq/spool/mmapio"
	"github.com/spoolhq/spool/mmapio/crashfs"
)

// syncCountFS counts the syncs the journal asks of its FS: data syncs
// (File.Sync and Mapping.Sync) and directory syncs. It forwards
// mmapio.HolePuncher, so the journal punches through it as through the FS
// it wraps.
type syncCountFS struct {
	mmapio.FS
	data, dir atomic.Int64

	// gate holds the Unmap and Close of the files in it until release
	// is closed (cut_reap_test.go).
	mu      sync.Mutex
	gate    map[*syncCountFile]bool
	release chan struct{} // closed to let gated calls through
	entered chan struct{} // a gated call arrived (buffered)
	live    atomic.Int64  // mappings of gated files not yet unmapped
}

func (c *syncCountFS) counts() (data, dir int64) { return c.data.Load(), c.dir.Load() }

func (c *syncCountFS) reset() {
	c.data.Store(0)
	c.dir.Store(0)
}

func (c *syncCountFS) gated(f *syncCountFile) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gate[f]
}

// hold blocks a gated teardown call until the gate is released.
func (c *syncCountFS) hold(f *syncCountFile) {
	if !c.gated(f) {
		return
	}
	c.entered <- struct{}{}
	<-c.release
}

func (c *syncCountFS) SyncDir(dir string) error {
	c.dir.Add(1)
	return c.FS.SyncDir(dir)
}

func (c *syncCountFS) Create(name string) (mmapio.File, error) {
	f, err := c.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &syncCountFile{File: f, fs: c}, nil
}

func (c *syncCountFS) Open(name string, writable bool) (mmapio.File, error) {
	f, err := c.FS.Open(name, writable)
	if err != nil {
		return nil, err
	}
	return &syncCountFile{File: f, fs: c}, nil
}

type syncCountFile struct {
	mmapio.File
	fs *syncCountFS
}

func (f *syncCountFile) Sync() error {
	f.fs.data.Add(1)
	return f.File.Sync()
}

func (f *syncCountFile) PunchHole(off, n int64) error {
	hp, ok := f.File.(mmapio.HolePuncher)
	if !ok {
		return mmapio.ErrNoPunch
	}
	return hp.PunchHole(off, n)
}

func (f *syncCountFile) Map(off int64, length int, writable bool) (mmapio.Mapping, error) {
	m, err := f.File.Map(off, length, writable)
	if err != nil {
		return nil, err
	}
	return &syncCountMapping{Mapping: m, f: f}, nil
}

func (f *syncCountFile) Close() error {
	f.fs.hold(f)
	return f.File.Close()
}

type syncCountMapping struct {
	mmapio.Mapping
	f *syncCountFile
}

func (m *syncCountMapping) Sync(off, n int) error {
	m.f.fs.data.Add(1)
	return m.Mapping.Sync(off, n)
}

func (m *syncCountMapping) Unmap() error {
	g := m.f.fs.gated(m.f)
	m.f.fs.hold(m.f)
	err := m.Mapping.Unmap()
	if g {
		m.f.fs.live.Add(-1)
	}
	return err
}

// TestCutSyncCounts counts the data and directory syncs of each kind of
// truncation, on a journal whose appends are durable (SyncEach) and whose
// spare files are made inline (so that no background work syncs while a
// cut is counted), and checks the bounds docs/decisions.md states ("Cuts:
// teardown off the caller's path, holes, syncs"):
//
//	front (TruncateFront)                    1 data, 0 dir
//	back within the active segment           2 data, 0 dir
//	back into a sealed segment               1 data, 1 dir
//	back to a segment boundary               1 data, 1 dir
//	back twice into the same segment         1 data (the second cut)
//	Reset                                    1 data, 1 dir
//
// Every case then reopens the journal and checks its bounds and entries.
func TestCutSyncCounts(t *testing.T) {
	cases := []struct {
		name          string
		entries       int
		cut           func(j *Journal) error
		first, last   func(j *Journal) uint64 // expected after the cut
		maxData, mDir int64
	}{
		{"front", 40, func(j *Journal) error { return j.TruncateFront(25) },
			func(*Journal) uint64 { return 25 }, func(*Journal) uint64 { return 40 }, 1, 0},
		{"back within the active segment", 40, func(j *Journal) error { return j.TruncateBack(38) },
			func(*Journal) uint64 { return 1 }, func(*Journal) uint64 { return 38 }, 2, 0},
		{"back into a sealed segment", 40, func(j *Journal) error { return j.TruncateBack(10) },
			func(*Journal) uint64 { return 1 }, func(*Journal) uint64 { return 10 }, 1, 1},
		{"back to a segment boundary", 40, func(j *Journal) error {
			// The last entry of the first segment: the cut removes every
			// later segment and keeps the first whole.
			s := j.segs.Load().segs[1]
			return j.TruncateBack(s.first - 1)
		}, func(*Journal) uint64 { return 1 }, func(j *Journal) uint64 {
			return j.segs.Load().segs[0].first + uint64(j.segs.Load().segs[0].count.Load()) - 1
		}, 1, 1},
		{"Reset", 40, func(j *Journal) error { return j.Reset(100) },
			func(*Journal) uint64 { return 100 }, func(*Journal) uint64 { return 99 }, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfs := &syncCountFS{FS: crashfs.New()}
			defer releaseFS(cfs.FS.(*crashfs.FS))
			o := &Options{FS: cfs, SegmentSize: testSegSize, Sync: SyncEach, spare: spareInline}
			j := mustOpen(t, crashDir, o)
			for i := 1; i <= tc.entries; i++ {
				mustAppend(t, j, payload(uint64(i), 5000))
			}
			if n := len(j.segs.Load().segs); n < 3 {
				t.Fatalf("setup: %d segments, want at least 3", n)
			}
			wantFirst, wantLast := tc.first(j), tc.last(j)
			cfs.reset()
			if err := tc.cut(j); err != nil {
				t.Fatalf("cut: %v", err)
			}
			data, dir := cfs.counts()
			t.Logf("%s: %d data syncs, %d directory syncs", tc.name, data, dir)
			if data > tc.maxData || dir > tc.mDir {
				t.Errorf("%s: %d data syncs and %d directory syncs, want at most %d and %d", tc.name, data, dir, tc.maxData, tc.mDir)
			}
			closeOK(t, j)
			j = mustOpen(t, crashDir, o)
			defer closeOK(t, j)
			if j.FirstIndex() != wantFirst || j.LastIndex() != wantLast {
				t.Fatalf("after reopen: [%d, %d], want [%d, %d]", j.FirstIndex(), j.LastIndex(), wantFirst, wantLast)
			}
			for i := wantFirst; i <= wantLast; i++ {
				got, err := j.ReadBytes(i, nil)
				if err != nil || string(got) != string(payload(i, 5000)) {
					t.Fatalf("entry %d after reopen: %v", i, err)
				}
			}
		})
	}

	// A second cut into the segment the first cut sealed: its seal is
	// still pending (the first cut's trailer), but the data and slots it
	// describes are durable, so only the meta record is synced.
	t.Run("back twice into a sealed segment", func(t *testing.T) {
		cfs := &syncCountFS{FS: crashfs.New()}
		defer releaseFS(cfs.FS.(*crashfs.FS))
		o := &Options{FS: cfs, SegmentSize: testSegSize, Sync: SyncEach, spare: spareInline}
		j := mustOpen(t, crashDir, o)
		defer func() { closeOK(t, j) }()
		for i := 1; i <= 40; i++ {
			mustAppend(t, j, payload(uint64(i), 5000))
		}
		if err := j.TruncateBack(10); err != nil {
			t.Fatal(err)
		}
		cfs.reset()
		if err := j.TruncateBack(8); err != nil {
			t.Fatal(err)
		}
		data, dir := cfs.counts()
		t.Logf("second cut: %d data syncs, %d directory syncs", data, dir)
		if data > 1 || dir > 0 {
			t.Errorf("second cut: %d data syncs and %d directory syncs, want at most 1 and 0", data, dir)
		}
		closeOK(t, j)
		j = mustOpen(t, crashDir, o)
		if j.LastIndex() != 8 {
			t.Fatalf("after reopen: last %d, want 8", j.LastIndex())
		}
	})
}
