package etcd

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"github.com/spoolhq/spool/journal"
	"github.com/zeebo/xxh3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// TestSnapshotFileDamage damages the snapshot data file in every way a
// disk or an operator can and checks that Snapshot reports a typed error
// (journal.ErrCorrupt) and never returns wrong data, panics or allocates
// what a damaged length says.
func TestSnapshotFileDamage(t *testing.T) {
	data := []byte("the state machine, serialized")
	setup := func(t *testing.T) (*Storage, string) {
		s := newStorageWith(t, index(0).terms(0, 1, 1, 1), nil)
		if _, err := s.CreateSnapshot(2, &pb.ConfState{Voters: []uint64{1}}, data); err != nil {
			t.Fatal(err)
		}
		if snap, err := s.Snapshot(); err != nil || string(snap.Data) != string(data) {
			t.Fatalf("Snapshot() = %v, %v", snap, err)
		}
		return s, s.snapPath(2, 1)
	}
	damage := []struct {
		name string
		do   func(t *testing.T, path string)
	}{
		{"truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, snapHeaderSize+int64(len(data))-1); err != nil {
				t.Fatal(err)
			}
		}},
		{"extended", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.Write([]byte("x"))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
		}},
		{"data byte flipped", func(t *testing.T, path string) { flipByte(t, path, snapHeaderSize+3) }},
		{"header byte flipped", func(t *testing.T, path string) { flipByte(t, path, 20) }},
		{"header only", func(t *testing.T, path string) {
			if err := os.Truncate(path, snapHeaderSize); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, d := range damage {
		t.Run(d.name, func(t *testing.T) {
			s, path := setup(t)
			d.do(t, path)
			snap, err := s.Snapshot()
			if !errors.Is(err, journal.ErrCorrupt) {
				t.Fatalf("Snapshot() = %v, %v; want ErrCorrupt", snap, err)
			}
		})
	}
	t.Run("newer version", func(t *testing.T) {
		s, path := setup(t)
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		var h [snapHeaderSize]byte
		if _, err := f.ReadAt(h[:], 0); err != nil {
			t.Fatal(err)
		}
		binary.LittleEndian.PutUint32(h[8:], snapFileVersion+1)
		binary.LittleEndian.PutUint64(h[48:], xxh3.Hash(h[:48]))
		_, err = f.WriteAt(h[:], 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Snapshot(); !errors.Is(err, journal.ErrVersion) {
			t.Fatalf("Snapshot() of a version %d file: %v; want ErrVersion", snapFileVersion+1, err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		s, path := setup(t)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Snapshot(); err == nil {
			t.Fatal("Snapshot() of a removed file succeeded")
		}
		opts := s.opts
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s2, err := Open(s.dir, &opts); !errors.Is(err, journal.ErrCorrupt) {
			if err == nil {
				s2.Close()
			}
			t.Fatalf("Open without the named snapshot file: %v", err)
		}
	})
	t.Run("record names a huge file", func(t *testing.T) {
		// A record that passes the meta store's checksum but names an
		// enormous data length is refused before any allocation.
		s, _ := setup(t)
		rec := s.snap
		rec.dataLen = 1 << 60
		enc, err := rec.encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Journal().UpdateMeta(true, journal.MetaUpdate{Key: keySnap, Value: enc}); err != nil {
			t.Fatal(err)
		}
		s.snap = rec
		if _, err := s.Snapshot(); !errors.Is(err, journal.ErrCorrupt) {
			t.Fatalf("Snapshot() = %v; want ErrCorrupt", err)
		}
		rec.dataLen = 1<<64 - 1
		enc, _ = rec.encode()
		if err := s.Journal().UpdateMeta(true, journal.MetaUpdate{Key: keySnap, Value: enc}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s2, err := Open(s.dir, nil); !errors.Is(err, journal.ErrCorrupt) {
			if err == nil {
				s2.Close()
			}
			t.Fatalf("Open with a snapshot record of length 2^64-1: %v", err)
		}
	})
}

func flipByte(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
}

// TestCreateSnapshotWithoutCompactReopens is a regression test: a Storage
// that took a snapshot but never compacted (so has no compaction record)
// must reopen with its snapshot and its whole log.
func TestCreateSnapshotWithoutCompactReopens(t *testing.T) {
	for _, m := range modes {
		s := openTest(t, t.TempDir(), &m.opts)
		ents := index(1).terms(1, 1, 2, 2)
		if err := s.Append(ents); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateSnapshot(3, &pb.ConfState{Voters: []uint64{1, 2}}, []byte("kv")); err != nil {
			t.Fatal(err)
		}
		if d := s.Journal().Durable(); d < 3 {
			t.Fatalf("%s: snapshot recorded at 3 with the log durable to %d", m.name, d)
		}
		for range 2 {
			s = reopen(t, s)
			snap, err := s.Snapshot()
			if err != nil || snap.GetMetadata().GetIndex() != 3 || snap.GetMetadata().GetTerm() != 2 || string(snap.Data) != "kv" {
				t.Fatalf("%s: Snapshot() = %v, %v", m.name, snap, err)
			}
			requireEntries(t, append(index(0).terms(0), ents...), allEntries(t, s))
			if s.Empty() {
				t.Fatalf("%s: Empty() after a snapshot", m.name)
			}
		}
	}
}

// TestEmptyAfterBootstrapSnapshot checks that a Storage holding only a
// bootstrap snapshot (index 0, a ConfState, as etcd writes one) is not
// Empty, before and after a reopen, with or without a ConfState.
func TestEmptyAfterBootstrapSnapshot(t *testing.T) {
	for _, cs := range []*pb.ConfState{{Voters: []uint64{1}}, nil} {
		s := openTest(t, t.TempDir(), nil)
		if !s.Empty() {
			t.Fatal("new Storage not Empty")
		}
		if err := s.ApplySnapshot(&pb.Snapshot{Metadata: &pb.SnapshotMetadata{ConfState: cs}}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if s.Empty() {
				t.Fatalf("Empty() with a bootstrap snapshot (ConfState %v)", cs)
			}
			s = reopen(t, s)
		}
	}
}
