package hashicorp

import (
	"sync/atomic"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/mmapio"
)

// countingFS is mmapio.OS counting the syncs of file data (File.Sync and
// Mapping.Sync) and of directories.
type countingFS struct {
	mmapio.FS
	data, dirs atomic.Int64
}

func (c *countingFS) Create(name string) (mmapio.File, error) {
	f, err := c.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &countingFile{f, c}, nil
}

func (c *countingFS) Open(name string, writable bool) (mmapio.File, error) {
	f, err := c.FS.Open(name, writable)
	if err != nil {
		return nil, err
	}
	return &countingFile{f, c}, nil
}

func (c *countingFS) SyncDir(dir string) error {
	c.dirs.Add(1)
	return c.FS.SyncDir(dir)
}

type countingFile struct {
	mmapio.File
	c *countingFS
}

func (f *countingFile) Sync() error {
	f.c.data.Add(1)
	return f.File.Sync()
}

func (f *countingFile) Map(off int64, length int, writable bool) (mmapio.Mapping, error) {
	m, err := f.File.Map(off, length, writable)
	if err != nil {
		return nil, err
	}
	return &countingMapping{m, f.c}, nil
}

type countingMapping struct {
	mmapio.Mapping
	c *countingFS
}

func (m *countingMapping) Sync(off, n int) error {
	m.c.data.Add(1)
	return m.Mapping.Sync(off, n)
}

// TestStoreLogsOneSync: a durable StoreLogs call costs one sync of the
// log, whatever the number of entries in it (within a segment; a segment
// roll adds the sealed segment's sync); under NoSync it costs none.
func TestStoreLogsOneSync(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		fs := &countingFS{FS: mmapio.OS}
		s := openStore(t, t.TempDir(), &Options{JournalOptions: JournalOptions{FS: fs, NoSync: noSync}})
		// The first append creates the first segment (its header and
		// directory entry are synced once); count from the second.
		if err := s.StoreLogs([]*raft.Log{{Index: 1, Term: 1}}); err != nil {
			t.Fatal(err)
		}
		next := uint64(2)
		for _, n := range []int{1, 8, 64, 512} {
			const calls = 20
			before, beforeDirs := fs.data.Load(), fs.dirs.Load()
			for range calls {
				logs := make([]*raft.Log, n)
				for i := range logs {
					logs[i] = &raft.Log{Index: next, Term: 1, Data: make([]byte, 100)}
					next++
				}
				if err := s.StoreLogs(logs); err != nil {
					t.Fatal(err)
				}
			}
			got, dirs := fs.data.Load()-before, fs.dirs.Load()-beforeDirs
			want := int64(calls)
			if noSync {
				want = 0
			}
			if got != want || dirs != 0 {
				t.Errorf("NoSync %v: %d StoreLogs calls of %d entries: %d data syncs, %d directory syncs; want %d and 0",
					noSync, calls, n, got, dirs, want)
			}
		}
	}
}

// TestStoreLogsAllocs: StoreLogs allocates nothing per entry: the entries
// are streamed into the mapped pages, and a batch of 64 costs the same
// allocations as a batch of one (those of the journal's batch and sync
// wait).
func TestStoreLogsAllocs(t *testing.T) {
	if journal.DebugChecks {
		t.Skip("spooldebug build: the journal's debug checks allocate")
	}
	for _, noSync := range []bool{false, true} {
		s := openStore(t, t.TempDir(), &Options{JournalOptions: JournalOptions{NoSync: noSync}})
		next := uint64(1)
		data := make([]byte, 128)
		per := map[int]float64{}
		for _, n := range []int{1, 64} {
			logs := make([]*raft.Log, n)
			for i := range logs {
				logs[i] = &raft.Log{Term: 1, Data: data, Extensions: []byte("ext")}
			}
			per[n] = testing.AllocsPerRun(50, func() {
				for _, l := range logs {
					l.Index = next
					next++
				}
				if err := s.StoreLogs(logs); err != nil {
					t.Fatal(err)
				}
			})
		}
		if per[64] != per[1] || per[1] > 2 {
			t.Errorf("NoSync %v: StoreLogs allocations: %v for 1 entry, %v for 64", noSync, per[1], per[64])
		}
		t.Logf("NoSync %v: %v allocations per StoreLogs call, for 1 or 64 entries", noSync, per[1])
	}
}
