package etcd

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/mmapio"
	"github.com/spoolhq/spool/mmapio/crashfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// countFS counts the syncs the Storage issues: msyncs of segment mappings,
// fsyncs of files (the journal's META, snapshot files) and of directories.
type countFS struct {
	mmapio.FS
	mapSyncs, fileSyncs, dirSyncs atomic.Int64
}

type countFile struct {
	mmapio.File
	fs *countFS
}

type countMapping struct {
	mmapio.Mapping
	fs *countFS
}

func (c *countFS) Create(name string) (mmapio.File, error) {
	f, err := c.FS.Create(name)
	if err != nil {
		return nil, err
	}
	return &countFile{f, c}, nil
}

func (c *countFS) Open(name string, w bool) (mmapio.File, error) {
	f, err := c.FS.Open(name, w)
	if err != nil {
		return nil, err
	}
	return &countFile{f, c}, nil
}

func (c *countFS) SyncDir(dir string) error { c.dirSyncs.Add(1); return c.FS.SyncDir(dir) }

func (f *countFile) Sync() error { f.fs.fileSyncs.Add(1); return f.File.Sync() }

func (f *countFile) Map(off int64, n int, w bool) (mmapio.Mapping, error) {
	m, err := f.File.Map(off, n, w)
	if err != nil {
		return nil, err
	}
	return &countMapping{m, f.fs}, nil
}

func (m *countMapping) Sync(off, n int) error { m.fs.mapSyncs.Add(1); return m.Mapping.Sync(off, n) }

func (c *countFS) snapshot() [3]int64 {
	return [3]int64{c.mapSyncs.Load(), c.fileSyncs.Load(), c.dirSyncs.Load()}
}

func hsOf(term, vote, commit uint64) *pb.HardState {
	return &pb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

func entsOf(from uint64, term uint64, n int, size int) []*pb.Entry {
	var ents []*pb.Entry
	for k := range n {
		d := bytes.Repeat([]byte{byte(from) + byte(k)}, size)
		ents = append(ents, &pb.Entry{Index: new(from + uint64(k)), Term: new(term), Data: d})
	}
	return ents
}

// TestSaveReadySyncs checks the sync count of each kind of Ready: one
// journal sync for entries under MustSync, one meta sync for a new term or
// vote, nothing for a commit-only change (not even a meta write: it is
// recorded at Close, as the reopen shows) or MustSync false.
func TestSaveReadySyncs(t *testing.T) {
	cfs := &countFS{FS: mmapio.OS}
	s := openTest(t, t.TempDir(), &Options{JournalOptions: JournalOptions{FS: cfs}})
	step := func(name string, rd raft.Ready, want [3]int64) {
		t.Helper()
		before := cfs.snapshot()
		if err := s.SaveReady(rd); err != nil {
			t.Fatal(err)
		}
		after := cfs.snapshot()
		got := [3]int64{after[0] - before[0], after[1] - before[1], after[2] - before[2]}
		if got != want {
			t.Fatalf("%s: syncs (mapping, file, dir) = %v, want %v", name, got, want)
		}
	}
	// The first append creates a segment (file and directory syncs).
	if err := s.SaveReady(raft.Ready{Entries: entsOf(1, 1, 1, 100), MustSync: true}); err != nil {
		t.Fatal(err)
	}
	// A new term and vote with entries: the journal sync, then the meta.
	step("term+entries", raft.Ready{HardState: hsOf(1, 1, 0), Entries: entsOf(2, 1, 2, 100), MustSync: true}, [3]int64{1, 1, 0})
	// Entries only (and a commit index): one journal sync.
	step("entries", raft.Ready{HardState: hsOf(1, 1, 3), Entries: entsOf(4, 1, 5, 100), MustSync: true}, [3]int64{1, 0, 0})
	// Commit only: raft does not ask for a sync.
	step("commit", raft.Ready{HardState: hsOf(1, 1, 8), MustSync: false}, [3]int64{0, 0, 0})
	// Nothing to persist.
	step("empty", raft.Ready{}, [3]int64{0, 0, 0})
	// A vote in a new term, no entries.
	step("vote", raft.Ready{HardState: hsOf(2, 3, 8), MustSync: true}, [3]int64{0, 1, 0})
	hs, _, _ := s.InitialState()
	if hs.GetTerm() != 2 || hs.GetVote() != 3 || hs.GetCommit() != 8 {
		t.Fatalf("HardState %v", hs)
	}
	s = reopen(t, s)
	hs, _, _ = s.InitialState()
	if hs.GetTerm() != 2 || hs.GetVote() != 3 || hs.GetCommit() != 8 {
		t.Fatalf("HardState after reopen %v", hs)
	}
	if last, _ := s.LastIndex(); last != 8 {
		t.Fatalf("LastIndex %d", last)
	}
}

// TestSaveCommitAsGiven checks that the commit index is stored as raft
// hands it over (as MemoryStorage does), held only to LastIndex, and that a
// crash that loses entries the recorded commit index covered leaves one
// raft accepts: held to the log the crash left.
func TestSaveCommitAsGiven(t *testing.T) {
	fs := crashfs.New()
	defer fs.Close()
	s, err := Open(crashDir, &Options{JournalOptions: JournalOptions{FS: fs, SegmentSize: 64 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Save(hsOf(1, 1, 2), entsOf(1, 1, 2, 10), nil, true); err != nil {
		t.Fatal(err)
	}
	// Entries saved without a sync, and a commit index covering them.
	if err := s.Save(hsOf(1, 1, 5), entsOf(3, 1, 3, 10), nil, false); err != nil {
		t.Fatal(err)
	}
	if hs, _, _ := s.InitialState(); hs.GetCommit() != 5 {
		t.Fatalf("commit %d, want 5 as given", hs.GetCommit())
	}
	if err := s.SetHardState(hsOf(1, 1, 9)); err != nil {
		t.Fatal(err)
	}
	if hs, _, _ := s.InitialState(); hs.GetCommit() != 5 {
		t.Fatalf("commit %d past LastIndex 5", hs.GetCommit())
	}
	// A new term records the HardState, commit 5, while entries 3-5 are
	// not durable; the crash loses them.
	if err := s.SetHardState(hsOf(2, 1, 5)); err != nil {
		t.Fatal(err)
	}
	img, err := fs.Crash().Image(crashfs.AllOld)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	s2, err := Open(crashDir, &Options{JournalOptions: JournalOptions{FS: img, SegmentSize: 64 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	hs, _, _ := s2.InitialState()
	last, _ := s2.LastIndex()
	if hs.GetTerm() != 2 || last != 2 || hs.GetCommit() != 2 {
		t.Fatalf("after the crash HardState %v, LastIndex %d; want term 2, commit 2 = LastIndex", hs, last)
	}
}

// TestSyncRecordsCommit: a commit-only change is written by Sync, so a
// crash after Sync finds it, and Sync of an unchanged commit index costs
// no meta sync.
func TestSyncRecordsCommit(t *testing.T) {
	fs := crashfs.New()
	defer fs.Close()
	s, err := Open(crashDir, &Options{JournalOptions: JournalOptions{FS: fs, SegmentSize: 64 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SaveReady(raft.Ready{HardState: hsOf(1, 1, 0), Entries: entsOf(1, 1, 8, 10), MustSync: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveReady(raft.Ready{HardState: hsOf(1, 1, 8)}); err != nil { // commit only
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	ops := fs.Ops()
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := fs.Ops() - ops; n != 0 {
		t.Fatalf("a second Sync made %d operations", n)
	}
	img, err := fs.Crash().Image(crashfs.AllOld)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	s2, err := Open(crashDir, &Options{JournalOptions: JournalOptions{FS: img, SegmentSize: 64 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if hs, _, _ := s2.InitialState(); hs.GetCommit() != 8 {
		t.Fatalf("commit %d after Sync and a crash, want 8", hs.GetCommit())
	}
}

// TestSaveSnapshotReady installs a snapshot through a Ready, with entries
// after it, as a follower catching up does.
func TestSaveSnapshotReady(t *testing.T) {
	s := openTest(t, t.TempDir(), nil)
	if err := s.SaveReady(raft.Ready{HardState: hsOf(1, 0, 3), Entries: entsOf(1, 1, 10, 10), MustSync: true}); err != nil {
		t.Fatal(err)
	}
	snap := &pb.Snapshot{Data: []byte("state at 50"), Metadata: &pb.SnapshotMetadata{Index: new(uint64(50)), Term: new(uint64(4)), ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}
	rd := raft.Ready{HardState: hsOf(5, 0, 52), Snapshot: snap, Entries: entsOf(51, 5, 2, 10), MustSync: true}
	if err := s.SaveReady(rd); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		hs, cs, _ := s.InitialState()
		if first != 51 || last != 52 || hs.GetCommit() != 52 || hs.GetTerm() != 5 || len(cs.Voters) != 3 {
			t.Fatalf("first %d last %d hs %v cs %v", first, last, hs, cs)
		}
		if term, _ := s.Term(50); term != 4 {
			t.Fatalf("Term(50) = %d", term)
		}
		got, err := s.Snapshot()
		if err != nil || string(got.Data) != "state at 50" {
			t.Fatalf("Snapshot = %v, %v", got, err)
		}
		s = reopen(t, s)
	}
	// Only the current snapshot's file remains.
	names, _ := filepath.Glob(filepath.Join(s.dir, snapPrefix+"*"))
	if len(names) != 1 {
		t.Fatalf("snapshot files %v", names)
	}
}

// TestRecoverInterruptedCompaction and ...Snapshot simulate a crash between
// the meta record and the journal change: Open completes the change.
func TestRecoverInterruptedCompaction(t *testing.T) {
	s := newStorageWith(t, index(0).terms(0, 1, 1, 2, 2, 3), nil)
	np := logPoint{index: 3, term: 2, kind: pointCompact}
	if err := s.j.SetMeta(keyBase, np.encode()); err != nil { // the record, not the truncation
		t.Fatal(err)
	}
	s = reopen(t, s)
	if first, _ := s.FirstIndex(); first != 4 || s.j.FirstIndex() != 4 {
		t.Fatalf("FirstIndex %d, journal %d", first, s.j.FirstIndex())
	}
	requireEntries(t, []*pb.Entry{{Index: new(uint64(3)), Term: new(uint64(2))}, {Index: new(uint64(4)), Term: new(uint64(2))}, {Index: new(uint64(5)), Term: new(uint64(3))}}, allEntries(t, s))
}

func TestRecoverInterruptedSnapshot(t *testing.T) {
	s := newStorageWith(t, index(0).terms(0, 1, 1, 2, 2, 3), nil)
	rec, err := s.storeSnapshotLocked(9, 7, &pb.ConfState{Voters: []uint64{4}}, []byte("nine"))
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := rec.encode()
	np := logPoint{index: 9, term: 7, kind: pointReset}
	if err := s.j.UpdateMeta(true, journal.MetaUpdate{Key: keySnap, Value: enc}, journal.MetaUpdate{Key: keyBase, Value: np.encode()}); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 10 || last != 9 {
		t.Fatalf("first %d last %d", first, last)
	}
	if snap, err := s.Snapshot(); err != nil || string(snap.Data) != "nine" {
		t.Fatalf("Snapshot %v %v", snap, err)
	}
	// A stray snapshot file (a crash before its record) is removed.
	if _, err := s.writeSnapshotFile(20, 8, []byte("stray")); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s)
	names, _ := filepath.Glob(filepath.Join(s.dir, snapPrefix+"*"))
	if len(names) != 1 || !strings.HasSuffix(names[0], snapName(9, 7)) {
		t.Fatalf("snapshot files %v", names)
	}
}

// TestZeroCopyEntries checks that zero-copy Data aliases the journal's
// mapped bytes, stays valid (and unchanged) while pinned across compaction
// and truncation, and that Release and the collector unpin.
func TestZeroCopyEntries(t *testing.T) {
	s := openTest(t, t.TempDir(), &Options{ZeroCopy: true})
	ents := entsOf(1, 1, 2000, 100) // 64 KiB segments: several of them
	if err := s.Append(ents); err != nil {
		t.Fatal(err)
	}
	got, err := s.Entries(1, 2001, math.MaxUint64)
	if err != nil || len(got) != 2000 {
		t.Fatal(len(got), err)
	}
	// Data aliases the mapped payload (header excluded).
	v, err := s.j.Get(7)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := v.Bytes()
	if unsafe.SliceData(got[6].Data) != unsafe.SliceData(b[len(b)-100:]) || cap(got[6].Data) != 100 {
		t.Fatal("zero-copy Data does not alias the mapped payload, or its capacity runs past it")
	}
	v.Release()
	if p, _ := s.PinStats(); p != 2000 {
		t.Fatalf("pinned %d", p)
	}
	// Compact and truncate under the pins: segments are unlinked, but
	// pinned pages stay mapped and unchanged.
	if err := s.Compact(1500); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(entsOf(1800, 2, 1, 7)); err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if !bytes.Equal(e.Data, ents[i].Data) {
			t.Fatalf("entry %d changed under its pin", i+1)
		}
	}
	s.Release(got[:1000])
	s.Release(got[:1000]) // twice: no effect
	if p, _ := s.PinStats(); p != 1000 {
		t.Fatalf("pinned %d after releasing half", p)
	}
	got = nil
	// Dropped entries are unpinned by the collector.
	drop, err := s.Entries(1600, 1700, math.MaxUint64)
	if err != nil || len(drop) != 100 {
		t.Fatal(err)
	}
	drop = nil
	_ = drop
	deadline := time.Now().Add(2 * time.Minute) // a failure guard, not a pace
	for {
		runtime.GC()
		if p, _ := s.PinStats(); p == 0 {
			break
		}
		if time.Now().After(deadline) {
			p, c := s.PinStats()
			t.Fatalf("collector left %d pinned (%d collected)", p, c)
		}
		time.Sleep(time.Millisecond)
	}
	if _, c := s.PinStats(); c != 1100 {
		t.Fatalf("collected %d, want 1100", c)
	}
}

// TestEntriesPinned checks the explicit-lifetime API.
func TestEntriesPinned(t *testing.T) {
	s := openTest(t, t.TempDir(), nil)
	ents := entsOf(1, 1, 50, 64)
	ents = append(ents, &pb.Entry{Index: new(uint64(51)), Term: new(uint64(1)), Data: make([]byte, 100<<10)}) // spans segments: copied
	ents = append(ents, &pb.Entry{Index: new(uint64(52)), Term: new(uint64(1))})                              // no data: nothing to pin
	if err := s.Append(ents); err != nil {
		t.Fatal(err)
	}
	got, pins, err := s.EntriesPinned(1, 53, math.MaxUint64)
	if err != nil {
		t.Fatal(err)
	}
	requireEntries(t, ents, got)
	if pins.Len() != 50 {
		t.Fatalf("pinned %d", pins.Len())
	}
	pins.Release()
	pins.Release()
	if p, _ := s.PinStats(); p != 0 || pins.Len() != 0 {
		t.Fatalf("pinned %d", p)
	}
	var nilPins *Pins
	nilPins.Release()
}

// TestAsyncStorageWrites runs a single-node RawNode with
// Config.AsyncStorageWrites, persisting through HandleStorageAppend and
// checking that entries are readable through the Storage before the
// responses are delivered.
func TestAsyncStorageWrites(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := openTest(t, t.TempDir(), &m.opts)
			cfg := &raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: s,
				MaxSizePerMsg: 4096, MaxInflightMsgs: 256, AsyncStorageWrites: true}
			rn, err := raft.NewRawNode(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := rn.Bootstrap([]raft.Peer{{ID: 1}}); err != nil {
				t.Fatal(err)
			}
			if err := rn.Campaign(); err != nil {
				t.Fatal(err)
			}
			applied := map[string]bool{}
			proposed := 0
			for round := 0; round < 2000 && len(applied) < 300; round++ {
				if proposed < 300 && rn.BasicStatus().RaftState == raft.StateLeader {
					for range 10 {
						if err := rn.Propose(fmt.Appendf(nil, "p%d", proposed)); err == nil {
							proposed++
						}
					}
				}
				if !rn.HasReady() {
					rn.Tick()
					continue
				}
				rd := rn.Ready()
				for _, msg := range rd.Messages {
					switch msg.GetTo() {
					case raft.LocalAppendThread:
						resps, err := s.HandleStorageAppend(msg)
						if err != nil {
							t.Fatal(err)
						}
						for _, e := range msg.Entries {
							if term, err := s.Term(e.GetIndex()); err != nil || term != e.GetTerm() {
								t.Fatalf("entry %d not readable before the response: %d %v", e.GetIndex(), term, err)
							}
						}
						for _, r := range resps {
							if err := rn.Step(r); err != nil {
								t.Fatal(err)
							}
						}
					case raft.LocalApplyThread:
						for _, e := range msg.Entries {
							if e.GetType() == pb.EntryNormal && len(e.Data) > 0 {
								applied[string(e.Data)] = true
							}
						}
						s.Release(msg.Entries)
						for _, r := range msg.Responses {
							if err := rn.Step(r); err != nil {
								t.Fatal(err)
							}
						}
					default:
						t.Fatalf("message to %d in a one-node cluster", msg.GetTo())
					}
				}
			}
			if len(applied) != 300 {
				t.Fatalf("applied %d of 300", len(applied))
			}
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCopyModeEntriesOwned checks the default mode's contract: entries are
// heap copies that stay valid and unchanged after compaction, truncation
// and reset have unlinked the segments they came from.
func TestCopyModeEntriesOwned(t *testing.T) {
	s := openTest(t, t.TempDir(), nil)
	ents := entsOf(1, 1, 3000, 100)
	if err := s.Append(ents); err != nil {
		t.Fatal(err)
	}
	got, err := s.Entries(1, 3001, math.MaxUint64)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := s.j.Get(5)
	b, _ := v.Bytes()
	if unsafe.SliceData(got[4].Data) == unsafe.SliceData(b[len(b)-100:]) {
		t.Fatal("copy mode returned mapped bytes")
	}
	v.Release()
	if p, _ := s.PinStats(); p != 0 {
		t.Fatalf("copy mode pinned %d entries", p)
	}
	if err := s.Compact(2500); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: new(uint64(5000)), Term: new(uint64(2))}}); err != nil {
		t.Fatal(err)
	}
	requireEntries(t, ents, got)
}

// TestConcurrentReadersAndWriters runs raft-like readers against a writer
// that appends, replaces suffixes, compacts and installs snapshots, and
// checks that readers only ever see raft's sentinel errors and entries
// that are what was written at their index and term.
func TestConcurrentReadersAndWriters(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			opts := m.opts
			opts.NoSync = true
			s := openTest(t, t.TempDir(), &opts)
			mk := func(i, term uint64) *pb.Entry {
				return &pb.Entry{Index: new(i), Term: new(term), Data: fmt.Appendf(nil, "%d/%d/%s", i, term, bytes.Repeat([]byte("x"), int(i%200)))}
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for r := range 3 {
				wg.Go(func() {
					rng := newRand(uint64(r))
					for {
						select {
						case <-stop:
							return
						default:
						}
						first, _ := s.FirstIndex()
						last, _ := s.LastIndex()
						if last < first {
							continue
						}
						lo := first + uint64(rng.IntN(int(last-first+1)))
						ents, err := s.Entries(lo, last+1, uint64(rng.IntN(20000)))
						if err != nil && err != raft.ErrCompacted && err != raft.ErrUnavailable {
							errs <- err
							return
						}
						for k, e := range ents {
							want := fmt.Sprintf("%d/%d/", e.GetIndex(), e.GetTerm())
							if e.GetIndex() != lo+uint64(k) || !strings.HasPrefix(string(e.Data), want) {
								errs <- fmt.Errorf("entry at %d: index %d term %d data %.20q", lo+uint64(k), e.GetIndex(), e.GetTerm(), e.Data)
								return
							}
						}
						s.Release(ents)
						if _, err := s.Term(lo); err != nil && err != raft.ErrCompacted && err != raft.ErrUnavailable {
							errs <- err
							return
						}
					}
				})
			}
			rng := newRand(99)
			term := uint64(1)
			for step := range 400 {
				last, _ := s.LastIndex()
				first, _ := s.FirstIndex()
				var ents []*pb.Entry
				from := last + 1
				switch op := rng.IntN(10); {
				case op < 2 && last >= first: // replace a suffix in a new term
					term++
					from = max(first, last-uint64(rng.IntN(10)))
				case op < 3 && last > first+20: // compact
					if err := s.Compact(first + 10); err != nil {
						t.Fatal(err)
					}
					continue
				case op < 4 && step%50 == 0: // install a snapshot past the log
					term++
					snap := &pb.Snapshot{Data: []byte("s"), Metadata: &pb.SnapshotMetadata{Index: new(last + 5), Term: new(term), ConfState: &pb.ConfState{}}}
					if err := s.ApplySnapshot(snap); err != nil {
						t.Fatal(err)
					}
					continue
				}
				for k := range 1 + rng.IntN(30) {
					ents = append(ents, mk(from+uint64(k), term))
				}
				if err := s.Save(hsOf(term, 1, 0), ents, nil, false); err != nil {
					t.Fatal(err)
				}
			}
			close(stop)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
		})
	}
}
