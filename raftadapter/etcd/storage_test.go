package etcd

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/mmapio/crashfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The tables below are those of go.etcd.io/raft/v3's storage_test.go
// (v3.7.0), run against Storage, in both read modes, and again after a
// close and reopen where the operation persisted something.

type indexT uint64

func index(i uint64) indexT { return indexT(i) }

// terms returns entries with consecutive indexes from i and the given
// terms, like etcd's test helper.
func (i indexT) terms(terms ...uint64) []*pb.Entry {
	ents := make([]*pb.Entry, 0, len(terms))
	for k, t := range terms {
		ents = append(ents, &pb.Entry{Index: new(uint64(i) + uint64(k)), Term: new(t)})
	}
	return ents
}

// newStorageWith returns a Storage holding ents, where ents[0] is
// MemoryStorage's dummy entry: its index and term become the compaction
// point, the rest are stored entries.
func newStorageWith(t testing.TB, ents []*pb.Entry, opts *Options) *Storage {
	t.Helper()
	s := openTest(t, t.TempDir(), opts)
	if ents[0].GetIndex() > 0 {
		snap := &pb.Snapshot{Metadata: &pb.SnapshotMetadata{Index: new(ents[0].GetIndex()), Term: new(ents[0].GetTerm()), ConfState: &pb.ConfState{}}}
		if err := s.ApplySnapshot(snap); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Append(ents[1:]); err != nil {
		t.Fatal(err)
	}
	return s
}

func openTest(t testing.TB, dir string, opts *Options) *Storage {
	t.Helper()
	o := Options{JournalOptions: JournalOptions{SegmentSize: 64 << 10}}
	if opts != nil {
		o = *opts
		if o.SegmentSize == 0 {
			o.SegmentSize = 64 << 10
		}
	}
	s, err := Open(dir, &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func reopen(t testing.TB, s *Storage) *Storage {
	t.Helper()
	opts := s.opts
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return openTest(t, s.dir, &opts)
}

var modes = []struct {
	name string
	opts Options
}{
	{"copy", Options{}},
	{"zerocopy", Options{ZeroCopy: true}},
}

// allEntries returns the dummy entry and the stored entries, like
// MemoryStorage's ents, for comparison with the etcd tables.
func allEntries(t testing.TB, s *Storage) []*pb.Entry {
	t.Helper()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	term, err := s.Term(first - 1)
	if err != nil {
		t.Fatal(err)
	}
	out := []*pb.Entry{{Index: new(first - 1), Term: new(term)}}
	if last >= first {
		ents, err := s.Entries(first, last+1, math.MaxUint64)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ents...)
		s.Release(ents)
	}
	return out
}

func requireEntries(t testing.TB, want, got []*pb.Entry) {
	t.Helper()
	if len(want) != len(got) {
		t.Fatalf("got %d entries %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if !proto.Equal(want[i], got[i]) {
			t.Fatalf("entry %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

func TestStorageTerm(t *testing.T) {
	ents := index(3).terms(3, 4, 5)
	tests := []struct {
		i     uint64
		werr  error
		wterm uint64
	}{
		{2, raft.ErrCompacted, 0},
		{3, nil, 3},
		{4, nil, 4},
		{5, nil, 5},
		{6, raft.ErrUnavailable, 0},
	}
	for _, m := range modes {
		s := newStorageWith(t, ents, &m.opts)
		for round := range 2 {
			for _, tt := range tests {
				term, err := s.Term(tt.i)
				if err != tt.werr || term != tt.wterm { // == on purpose: raft compares errors with ==
					t.Fatalf("%s round %d: Term(%d) = %d, %v; want %d, %v", m.name, round, tt.i, term, err, tt.wterm, tt.werr)
				}
			}
			s = reopen(t, s)
		}
	}
}

func TestStorageEntries(t *testing.T) {
	ents := index(3).terms(3, 4, 5, 6)
	size := func(i int) uint64 { return uint64(proto.Size(ents[i])) }
	tests := []struct {
		lo, hi, maxsize uint64
		werr            error
		wentries        []*pb.Entry
	}{
		{2, 6, math.MaxUint64, raft.ErrCompacted, nil},
		{3, 4, math.MaxUint64, raft.ErrCompacted, nil},
		{4, 5, math.MaxUint64, nil, index(4).terms(4)},
		{4, 6, math.MaxUint64, nil, index(4).terms(4, 5)},
		{4, 7, math.MaxUint64, nil, index(4).terms(4, 5, 6)},
		// even if maxsize is zero, the first entry should be returned
		{4, 7, 0, nil, index(4).terms(4)},
		// limit to 2
		{4, 7, size(1) + size(2), nil, index(4).terms(4, 5)},
		// limit to 2
		{4, 7, size(1) + size(2) + size(3)/2, nil, index(4).terms(4, 5)},
		{4, 7, size(1) + size(2) + size(3) - 1, nil, index(4).terms(4, 5)},
		// all
		{4, 7, size(1) + size(2) + size(3), nil, index(4).terms(4, 5, 6)},
		// beyond the log
		{4, 8, math.MaxUint64, raft.ErrUnavailable, nil},
	}
	for _, m := range modes {
		s := newStorageWith(t, ents, &m.opts)
		for round := range 2 {
			for i, tt := range tests {
				got, err := s.Entries(tt.lo, tt.hi, tt.maxsize)
				if err != tt.werr {
					t.Fatalf("%s round %d case %d: err %v, want %v", m.name, round, i, err, tt.werr)
				}
				requireEntries(t, tt.wentries, got)
				s.Release(got)
			}
			s = reopen(t, s)
		}
		if p, _ := s.PinStats(); p != 0 {
			t.Fatalf("%s: %d entries still pinned", m.name, p)
		}
	}
}

// TestStorageEntriesMaxSize checks maxSize against proto.Size for entries
// of every field presence and size, including ones that span segments.
func TestStorageEntriesMaxSize(t *testing.T) {
	typ := pb.EntryConfChange
	var ents []*pb.Entry
	for i := range 40 {
		e := &pb.Entry{Index: new(uint64(i + 1)), Term: new(uint64(1 + i/10))}
		switch i % 5 {
		case 0:
			e.Data = []byte{} // present but empty
		case 1:
			e.Data = make([]byte, 100+i)
		case 2:
			e.Type = &typ
			e.Data = []byte("cc")
		case 3:
			e.Data = make([]byte, 150<<10) // spans 64 KiB segments
			e.Data[0], e.Data[len(e.Data)-1] = byte(i), 0xee
		case 4: // nil Data
		}
		ents = append(ents, e)
	}
	for _, m := range modes {
		s := openTest(t, t.TempDir(), &m.opts)
		if err := s.Append(ents); err != nil {
			t.Fatal(err)
		}
		for lo := uint64(1); lo <= 40; lo += 3 {
			for _, budget := range []uint64{0, 50, 300, 200 << 10, 1 << 20, math.MaxUint64} {
				got, err := s.Entries(lo, 41, budget)
				if err != nil {
					t.Fatal(err)
				}
				// The expected prefix, computed as raft's limitSize does.
				var want []*pb.Entry
				var sum uint64
				for _, e := range ents[lo-1:] {
					sum += uint64(proto.Size(e))
					if len(want) > 0 && sum > budget {
						break
					}
					want = append(want, e)
				}
				requireEntries(t, want, got)
				s.Release(got)
			}
		}
		if p, _ := s.PinStats(); p != 0 {
			t.Fatalf("%s: %d entries still pinned", m.name, p)
		}
	}
}

func TestStorageLastIndex(t *testing.T) {
	for _, m := range modes {
		s := newStorageWith(t, index(3).terms(3, 4, 5), &m.opts)
		if last, err := s.LastIndex(); err != nil || last != 5 {
			t.Fatalf("LastIndex = %d, %v; want 5", last, err)
		}
		if err := s.Append(index(6).terms(5)); err != nil {
			t.Fatal(err)
		}
		s = reopen(t, s)
		if last, err := s.LastIndex(); err != nil || last != 6 {
			t.Fatalf("LastIndex = %d, %v; want 6", last, err)
		}
	}
}

func TestStorageFirstIndex(t *testing.T) {
	s := newStorageWith(t, index(3).terms(3, 4, 5), nil)
	if first, err := s.FirstIndex(); err != nil || first != 4 {
		t.Fatalf("FirstIndex = %d, %v; want 4", first, err)
	}
	if err := s.Compact(4); err != nil {
		t.Fatal(err)
	}
	if first, err := s.FirstIndex(); err != nil || first != 5 {
		t.Fatalf("FirstIndex = %d, %v; want 5", first, err)
	}
	s = reopen(t, s)
	if first, err := s.FirstIndex(); err != nil || first != 5 {
		t.Fatalf("after reopen FirstIndex = %d, %v; want 5", first, err)
	}
}

func TestStorageCompact(t *testing.T) {
	ents := index(3).terms(3, 4, 5)
	tests := []struct {
		i      uint64
		werr   error
		windex uint64
		wterm  uint64
		wlen   int
	}{
		{2, raft.ErrCompacted, 3, 3, 3},
		{3, raft.ErrCompacted, 3, 3, 3},
		{4, nil, 4, 4, 2},
		{5, nil, 5, 5, 1},
	}
	for _, tt := range tests {
		s := newStorageWith(t, ents, nil)
		if err := s.Compact(tt.i); err != tt.werr {
			t.Fatalf("Compact(%d) = %v, want %v", tt.i, err, tt.werr)
		}
		for range 2 {
			got := allEntries(t, s)
			if got[0].GetIndex() != tt.windex || got[0].GetTerm() != tt.wterm || len(got) != tt.wlen {
				t.Fatalf("Compact(%d): dummy %d/%d, %d entries; want %d/%d, %d", tt.i,
					got[0].GetIndex(), got[0].GetTerm(), len(got), tt.windex, tt.wterm, tt.wlen)
			}
			s = reopen(t, s)
		}
	}
	// Out of bound: MemoryStorage panics; Storage returns an error.
	s := newStorageWith(t, ents, nil)
	if err := s.Compact(6); err == nil {
		t.Fatal("Compact past LastIndex succeeded")
	}
}

func TestStorageCreateSnapshot(t *testing.T) {
	ents := index(3).terms(3, 4, 5)
	cs := &pb.ConfState{Voters: []uint64{1, 2, 3}}
	data := []byte("data")
	tests := []struct {
		i     uint64
		werr  error
		wsnap *pb.Snapshot
	}{
		{4, nil, &pb.Snapshot{Data: data, Metadata: &pb.SnapshotMetadata{Index: new(uint64(4)), Term: new(uint64(4)), ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}},
		{5, nil, &pb.Snapshot{Data: data, Metadata: &pb.SnapshotMetadata{Index: new(uint64(5)), Term: new(uint64(5)), ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}},
	}
	for _, tt := range tests {
		s := newStorageWith(t, ents, nil)
		snap, err := s.CreateSnapshot(tt.i, cs, data)
		if err != tt.werr {
			t.Fatalf("CreateSnapshot(%d) = %v", tt.i, err)
		}
		if !proto.Equal(tt.wsnap, snap) {
			t.Fatalf("CreateSnapshot(%d) = %v, want %v", tt.i, snap, tt.wsnap)
		}
		// Like MemoryStorage.Snapshot, Snapshot returns the metadata with
		// every field set (pb.EnsureSnapshot).
		wsnap := pb.EnsureSnapshot(proto.CloneOf(tt.wsnap))
		for range 2 {
			got, err := s.Snapshot()
			if err != nil || !proto.Equal(wsnap, got) {
				t.Fatalf("Snapshot() = %v, %v; want %v", got, err, wsnap)
			}
			s = reopen(t, s)
		}
		// Out of date.
		if _, err := s.CreateSnapshot(tt.i, cs, data); err != raft.ErrSnapOutOfDate {
			t.Fatalf("second CreateSnapshot(%d) = %v, want ErrSnapOutOfDate", tt.i, err)
		}
		// A nil ConfState keeps the previous one.
		if tt.i == 4 {
			snap, err := s.CreateSnapshot(5, nil, nil)
			if err != nil || !proto.Equal(snap.Metadata.ConfState, cs) || snap.Data != nil {
				t.Fatalf("CreateSnapshot(5, nil, nil) = %v, %v", snap, err)
			}
		}
	}
}

func TestStorageAppend(t *testing.T) {
	ents := index(3).terms(3, 4, 5)
	tests := []struct {
		entries  []*pb.Entry
		wentries []*pb.Entry
	}{
		{index(1).terms(1, 2), index(3).terms(3, 4, 5)},
		{index(3).terms(3, 4, 5), index(3).terms(3, 4, 5)},
		{index(3).terms(3, 6, 6), index(3).terms(3, 6, 6)},
		{index(3).terms(3, 4, 5, 5), index(3).terms(3, 4, 5, 5)},
		// Truncate incoming entries, truncate the existing entries and append.
		{index(2).terms(3, 3, 5), index(3).terms(3, 5)},
		// Truncate the existing entries and append.
		{index(4).terms(5), index(3).terms(3, 5)},
		// Direct append.
		{index(6).terms(5), index(3).terms(3, 4, 5, 5)},
		// A matching prefix shorter than the log truncates the rest, as
		// MemoryStorage's Append does.
		{index(4).terms(4), index(3).terms(3, 4)},
	}
	for _, m := range modes {
		for i, tt := range tests {
			s := newStorageWith(t, ents, &m.opts)
			if err := s.Append(tt.entries); err != nil {
				t.Fatalf("%s case %d: %v", m.name, i, err)
			}
			for range 2 {
				requireEntries(t, tt.wentries, allEntries(t, s))
				s = reopen(t, s)
			}
		}
	}
	// A gap is refused (MemoryStorage panics).
	s := newStorageWith(t, ents, nil)
	if err := s.Append(index(7).terms(5)); err == nil {
		t.Fatal("append after a gap succeeded")
	}
}

func TestStorageApplySnapshot(t *testing.T) {
	cs := &pb.ConfState{Voters: []uint64{1, 2, 3}}
	data := []byte("data")
	tests := []struct {
		name      string
		snapshots []*pb.Snapshot
		werr      error
	}{
		{"normal case", []*pb.Snapshot{
			{Data: data, Metadata: &pb.SnapshotMetadata{Index: new(uint64(4)), Term: new(uint64(4)), ConfState: cs}},
		}, nil},
		{"snapshot out of date", []*pb.Snapshot{
			{Data: data, Metadata: &pb.SnapshotMetadata{Index: new(uint64(4)), Term: new(uint64(4)), ConfState: cs}},
			{Data: data, Metadata: &pb.SnapshotMetadata{Index: new(uint64(3)), Term: new(uint64(3)), ConfState: cs}},
		}, raft.ErrSnapOutOfDate},
		{"bootstrap with confState", []*pb.Snapshot{
			{Data: data, Metadata: &pb.SnapshotMetadata{ConfState: cs}},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTest(t, t.TempDir(), nil)
			var err error
			for _, sn := range tt.snapshots {
				err = s.ApplySnapshot(sn)
			}
			if err != tt.werr {
				t.Fatalf("ApplySnapshot = %v, want %v", err, tt.werr)
			}
			want := tt.snapshots[0]
			for range 2 {
				got, err := s.Snapshot()
				if err != nil || got.Metadata.GetIndex() != want.Metadata.GetIndex() || !slices.Equal(got.Metadata.ConfState.Voters, cs.Voters) {
					t.Fatalf("Snapshot() = %v, %v", got, err)
				}
				_, gcs, _ := s.InitialState()
				if !slices.Equal(gcs.Voters, cs.Voters) {
					t.Fatalf("InitialState ConfState = %v", gcs)
				}
				first, _ := s.FirstIndex()
				last, _ := s.LastIndex()
				if first != want.Metadata.GetIndex()+1 || last != want.Metadata.GetIndex() {
					t.Fatalf("first, last = %d, %d", first, last)
				}
				if term, err := s.Term(last); err != nil || term != want.Metadata.GetTerm() {
					t.Fatalf("Term(%d) = %d, %v", last, term, err)
				}
				s = reopen(t, s)
			}
		})
	}
}

// TestStorageEmpty checks a new Storage against a new MemoryStorage.
func TestStorageEmpty(t *testing.T) {
	s := openTest(t, t.TempDir(), nil)
	ms := raft.NewMemoryStorage()
	for range 2 {
		hs, cs, err := s.InitialState()
		mhs, mcs, _ := ms.InitialState()
		if err != nil || !proto.Equal(hs, mhs) || !proto.Equal(cs, mcs) {
			t.Fatalf("InitialState = %v, %v, %v; MemoryStorage %v, %v", hs, cs, err, mhs, mcs)
		}
		first, _ := s.FirstIndex()
		last, _ := s.LastIndex()
		if first != 1 || last != 0 {
			t.Fatalf("first, last = %d, %d", first, last)
		}
		if term, err := s.Term(0); term != 0 || err != nil {
			t.Fatalf("Term(0) = %d, %v", term, err)
		}
		if _, err := s.Term(1); err != raft.ErrUnavailable {
			t.Fatalf("Term(1) err = %v", err)
		}
		if _, err := s.Entries(1, 2, math.MaxUint64); err != raft.ErrUnavailable {
			t.Fatalf("Entries(1, 2) err = %v", err)
		}
		snap, err := s.Snapshot()
		msnap, _ := ms.Snapshot()
		if err != nil || !proto.Equal(snap, msnap) {
			t.Fatalf("Snapshot() = %v, %v; MemoryStorage %v", snap, err, msnap)
		}
		s = reopen(t, s)
	}
}

// TestStorageMatchesMemoryStorage drives Storage and MemoryStorage with the
// same random operations and compares every observable result, the
// HardState included. Once a HardState is set the operations keep raft's
// rules (a commit index that only grows, within the log; no truncation,
// compaction or snapshot past it; a snapshot installed with the HardState
// and entries of its Ready), under which the Storage must return the
// HardState exactly as MemoryStorage does. Some steps close and reopen the
// Storage; others Sync it and cut the power (internal/crashfs), after
// which everything must be there.
func TestStorageMatchesMemoryStorage(t *testing.T) {
	fs := crashfs.New()
	t.Cleanup(func() { _ = fs.Close() })
	s := openTest(t, crashDir, &Options{JournalOptions: JournalOptions{FS: fs}, ZeroCopy: true})
	ms := raft.NewMemoryStorage()
	rng := newRand(1)
	term := uint64(1)
	setHS := func(hs *pb.HardState) {
		if err := ms.SetHardState(hs); err != nil {
			t.Fatal(err)
		}
		var err error
		if rng.IntN(2) == 0 {
			err = s.SetHardState(hs)
		} else {
			err = s.SaveReady(raft.Ready{HardState: hs})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	crashes, hardStates := 0, 0
	for step := range 900 {
		first, _ := ms.FirstIndex()
		last, _ := ms.LastIndex()
		cur, _, _ := ms.InitialState()
		// Raft never truncates, compacts or snapshots past the commit
		// index; before any HardState anything goes.
		commit := uint64(math.MaxUint64)
		if cur != nil {
			commit = cur.GetCommit()
		}
		switch op := rng.IntN(12); {
		case op < 6: // append, possibly conflicting
			from := last + 1
			lo := first
			if cur != nil {
				lo = max(first, commit+1)
			}
			if last >= lo && rng.IntN(3) == 0 {
				from = lo + uint64(rng.IntN(int(last-lo+1)))
				term++
			}
			n := 1 + rng.IntN(8)
			var ents []*pb.Entry
			for k := range n {
				e := &pb.Entry{Index: new(from + uint64(k)), Term: new(term)}
				if rng.IntN(4) > 0 {
					e.Data = make([]byte, rng.IntN(300))
					for i := range e.Data {
						e.Data[i] = byte(rng.Uint32())
					}
				}
				ents = append(ents, e)
			}
			if err := ms.Append(ents); err != nil {
				t.Fatal(err)
			}
			if err := s.Append(ents); err != nil {
				t.Fatal(err)
			}
		case op < 7 && last > first && min(last-1, commit) >= first: // compact
			i := first + uint64(rng.IntN(int(min(last-1, commit)-first+1)))
			if err1, err2 := ms.Compact(i), s.Compact(i); err1 != err2 {
				t.Fatalf("Compact(%d): %v vs %v", i, err1, err2)
			}
		case op < 8 && last >= first && min(last, commit) >= first: // snapshot
			i := first + uint64(rng.IntN(int(min(last, commit)-first+1)))
			cs := &pb.ConfState{Voters: []uint64{uint64(step)}}
			data := []byte{byte(step)}
			a, err1 := ms.CreateSnapshot(i, cs, data)
			b, err2 := s.CreateSnapshot(i, cs, data)
			if err1 != err2 || !proto.Equal(a, b) {
				t.Fatalf("CreateSnapshot(%d): %v %v vs %v %v", i, a, err1, b, err2)
			}
		case op < 9: // reopen
			s = reopen(t, s)
		case op < 10: // a HardState: a new term or vote, or a commit index
			hardStates++
			lo := first - 1
			if cur != nil {
				lo = max(lo, cur.GetCommit())
			}
			vote := uint64(rng.IntN(3))
			if cur != nil && rng.IntN(2) == 0 {
				vote = cur.GetVote()
			}
			setHS(&pb.HardState{Term: new(term), Vote: new(vote), Commit: new(lo + uint64(rng.IntN(int(last-lo+1))))})
		case op < 11: // sync, then a crash: everything must survive
			crashes++
			if err := s.Sync(); err != nil {
				t.Fatal(err)
			}
			img, err := fs.Crash().Image(crashfs.Random(uint64(step)))
			if err != nil {
				t.Fatal(err)
			}
			_ = s.Close() // the abandoned instance: errors expected
			fs = img
			t.Cleanup(func() { _ = img.Close() })
			s = openTest(t, crashDir, &Options{JournalOptions: JournalOptions{FS: fs}, ZeroCopy: true})
		default: // install a snapshot past the log
			i := last + uint64(1+rng.IntN(5))
			term++
			snap := &pb.Snapshot{Data: []byte("s"), Metadata: &pb.SnapshotMetadata{Index: new(i), Term: new(term), ConfState: &pb.ConfState{Learners: []uint64{i}}}}
			if cur == nil {
				if err1, err2 := ms.ApplySnapshot(snap), s.ApplySnapshot(snap); err1 != err2 {
					t.Fatalf("ApplySnapshot(%d): %v vs %v", i, err1, err2)
				}
				break
			}
			// As raft hands it over: with the entries that follow and a
			// commit index that covers them, which the snapshot's
			// installation must not lower.
			ents := index(i + 1).terms(slices.Repeat([]uint64{term}, rng.IntN(4))...)
			hs := &pb.HardState{Term: new(term), Vote: new(cur.GetVote()), Commit: new(i + uint64(len(ents)))}
			if err := ms.ApplySnapshot(snap); err != nil {
				t.Fatal(err)
			}
			if err := ms.Append(ents); err != nil {
				t.Fatal(err)
			}
			if err := ms.SetHardState(hs); err != nil {
				t.Fatal(err)
			}
			if err := s.Save(hs, ents, snap, rng.IntN(2) == 0); err != nil {
				t.Fatal(err)
			}
		}
		compareStorages(t, ms, s, rng)
	}
	if p, _ := s.PinStats(); p != 0 {
		t.Fatalf("%d entries still pinned", p)
	}
	t.Logf("%d HardStates, %d crashes", hardStates, crashes)
}

func compareStorages(t *testing.T, ms *raft.MemoryStorage, s *Storage, rng interface{ IntN(int) int }) {
	t.Helper()
	f1, _ := ms.FirstIndex()
	f2, _ := s.FirstIndex()
	l1, _ := ms.LastIndex()
	l2, _ := s.LastIndex()
	if f1 != f2 || l1 != l2 {
		t.Fatalf("first/last: memory %d/%d, spool %d/%d", f1, l1, f2, l2)
	}
	for i := f1 - 1; i <= l1+1; i++ {
		a, err1 := ms.Term(i)
		b, err2 := s.Term(i)
		if a != b || err1 != err2 {
			t.Fatalf("Term(%d): memory %d %v, spool %d %v", i, a, err1, b, err2)
		}
	}
	if f1 > 1 {
		if _, err := s.Term(f1 - 2); err != raft.ErrCompacted {
			t.Fatalf("Term(%d) below the log: %v", f1-2, err)
		}
	}
	if l1 >= f1 {
		lo := f1 + uint64(rng.IntN(int(l1-f1+1)))
		maxSize := uint64(rng.IntN(2000))
		a, err1 := ms.Entries(lo, l1+1, maxSize)
		b, err2 := s.Entries(lo, l1+1, maxSize)
		if err1 != err2 {
			t.Fatalf("Entries err %v vs %v", err1, err2)
		}
		requireEntries(t, a, b)
		s.Release(b)
	}
	a, _ := ms.Snapshot()
	b, err := s.Snapshot()
	if err != nil || !proto.Equal(a, b) {
		t.Fatalf("Snapshot: memory %v, spool %v %v", a, b, err)
	}
	hs1, cs1, _ := ms.InitialState()
	hs2, cs2, _ := s.InitialState()
	if !proto.Equal(cs1, cs2) {
		t.Fatalf("ConfState: memory %v, spool %v", cs1, cs2)
	}
	if !proto.Equal(hs1, hs2) {
		t.Fatalf("HardState: memory %v, spool %v", hs1, hs2)
	}
}

func TestStorageErrorsUnwrapped(t *testing.T) {
	s := newStorageWith(t, index(3).terms(3, 4, 5), nil)
	_, err := s.Entries(2, 4, math.MaxUint64)
	if err != raft.ErrCompacted {
		t.Fatalf("Entries below first: %#v", err)
	}
	if _, err := s.Term(9); err != raft.ErrUnavailable {
		t.Fatalf("Term past last: %#v", err)
	}
	if err := s.Compact(3); err != raft.ErrCompacted {
		t.Fatalf("Compact at first-1: %#v", err)
	}
	boom := errors.New("boom")
	s2 := openTest(t, t.TempDir(), &Options{SnapshotData: func(*pb.SnapshotMetadata) ([]byte, error) {
		return nil, errors.Join(boom, raft.ErrSnapshotTemporarilyUnavailable)
	}})
	if _, err := s2.CreateSnapshot(0, nil, nil); err != raft.ErrSnapOutOfDate {
		t.Fatalf("CreateSnapshot(0) = %v", err)
	}
	if err := s2.Append(index(1).terms(1, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.CreateSnapshot(2, &pb.ConfState{Voters: []uint64{1}}, []byte("ignored")); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Snapshot(); err != raft.ErrSnapshotTemporarilyUnavailable {
		t.Fatalf("Snapshot with a hook reporting unavailability: %#v", err)
	}
}

// TestStorageClosed: after Close, a write and a second Close return an
// error wrapping journal.ErrClosed (the hashicorp adapter's and the
// journal's rule).
func TestStorageClosed(t *testing.T) {
	s := openTest(t, t.TempDir(), nil)
	if err := s.Append(index(1).terms(1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, journal.ErrClosed) {
		t.Fatalf("second Close: %v, want journal.ErrClosed", err)
	}
	if err := s.Append(index(2).terms(1)); !errors.Is(err, journal.ErrClosed) {
		t.Fatalf("Append after Close: %v, want journal.ErrClosed", err)
	}
}
