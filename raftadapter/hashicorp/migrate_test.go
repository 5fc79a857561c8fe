package hashicorp

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

func fileSnapshots(t testing.TB, retain int) *raft.FileSnapshotStore {
	t.Helper()
	fss, err := raft.NewFileSnapshotStoreWithLogger(t.TempDir(), retain, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	return fss
}

// TestMigrate copies a log with every field set, raft's stable keys and an
// application key, and the newest snapshots (up to the destination's
// retain count) from raft's own stores.
func TestMigrate(t *testing.T) {
	src := raft.NewInmemStore()
	logs := makeLogs(50, 3000)
	if err := src.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	_ = src.SetUint64([]byte("CurrentTerm"), 12)
	_ = src.SetUint64([]byte("LastVoteTerm"), 11)
	_ = src.Set([]byte("LastVoteCand"), []byte("node-2"))
	_ = src.Set([]byte("app-key"), []byte("app-value"))
	fss := fileSnapshots(t, 3)
	snaps := map[uint64][]byte{}
	for _, idx := range []uint64{1000, 2000, 2500} {
		snaps[idx] = snapData(idx, 10_000+int(idx))
		writeSnap(t, fss, idx, 5, snaps[idx])
	}

	dir := t.TempDir()
	dst := openStore(t, dir, nil)
	st, err := Migrate(dst, MigrateSource{Logs: src, Stable: src, Snapshots: fss,
		BytesKeys: [][]byte{[]byte("LastVoteCand"), []byte("app-key"), []byte("absent")}, BatchSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	var bytesWant int64
	for _, l := range logs {
		bytesWant += int64(len(l.Data) + len(l.Extensions))
	}
	if st != (MigrateStats{First: 50, Last: 3049, Entries: 3000, Bytes: bytesWant, StableKeys: 4, Snapshots: 2}) {
		t.Fatalf("stats %+v", st)
	}
	// Everything is there after a reopen.
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	dst = openStore(t, dir, nil)
	checkRange(t, dst, 50, 3049)
	checkLogs(t, dst, logs)
	for k, want := range map[string]uint64{"CurrentTerm": 12, "LastVoteTerm": 11} {
		if got, err := dst.GetUint64([]byte(k)); err != nil || got != want {
			t.Fatalf("%s = %d, %v; want %d", k, got, err, want)
		}
	}
	for k, want := range map[string]string{"LastVoteCand": "node-2", "app-key": "app-value"} {
		if got, err := dst.Get([]byte(k)); err != nil || string(got) != want {
			t.Fatalf("%s = %q, %v; want %q", k, got, err, want)
		}
	}
	if got, err := dst.Get([]byte("absent")); err != nil || got != nil {
		t.Fatalf("absent key migrated: %q, %v", got, err)
	}
	list, err := dst.Snapshots().List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Index != 2500 || list[1].Index != 2000 {
		t.Fatalf("snapshots %v", list)
	}
	for _, m := range list {
		meta, data, err := readSnap(t, dst.Snapshots(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, snaps[m.Index]) || meta.Term != 5 || meta.ConfigurationIndex != m.Index-1 ||
			len(meta.Configuration.Servers) != len(testConfig.Servers) {
			t.Fatalf("snapshot %d: %d bytes, meta %+v", m.Index, len(data), meta)
		}
	}
}

// TestMigrateGap: raft-boltdb (not monotonic) keeps the entries before a
// user snapshot restore, with a gap after them; Migrate keeps only the log
// after the last gap, which is what raft would read.
func TestMigrateGap(t *testing.T) {
	src := raft.NewInmemStore()
	_ = src.StoreLogs(makeLogs(1, 40))
	_ = src.StoreLogs(makeLogs(60, 10))
	_ = src.StoreLogs(makeLogs(100, 25))
	dst := testStore(t)
	st, err := Migrate(dst, MigrateSource{Logs: src})
	if err != nil {
		t.Fatal(err)
	}
	if st.First != 100 || st.Last != 124 || st.Entries != 25 || st.Discarded != 50 {
		t.Fatalf("stats %+v", st)
	}
	checkRange(t, dst, 100, 124)
	checkLogs(t, dst, makeLogs(100, 25))
}

// TestMigrateCommitIndex: a commit index tracked by the source is carried
// into the copied entries.
func TestMigrateCommitIndex(t *testing.T) {
	src := raft.NewInmemCommitTrackingStore()
	_ = src.StoreLogs(makeLogs(1, 100))
	_ = src.StageCommitIndex(90)
	dst := testStore(t)
	if _, err := Migrate(dst, MigrateSource{Logs: src}); err != nil {
		t.Fatal(err)
	}
	if c, err := dst.GetCommitIndex(); err != nil || c != 90 {
		t.Fatalf("commit index %d, %v; want 90", c, err)
	}
	// The staged value does not leak into later writes.
	if err := dst.StoreLogs(makeLogs(101, 1)); err != nil {
		t.Fatal(err)
	}
	if c, _ := dst.GetCommitIndex(); c != 0 {
		t.Fatalf("commit index after Migrate %d, want 0 until raft stages one", c)
	}
}

// TestMigrateRefusesNonEmpty: a destination with a log, a stable key or a
// snapshot is refused, and left as it was.
func TestMigrateRefusesNonEmpty(t *testing.T) {
	src := raft.NewInmemStore()
	_ = src.StoreLogs(makeLogs(1, 10))
	for name, prep := range map[string]func(*Store){
		"log":      func(s *Store) { _ = s.StoreLogs(makeLogs(1, 1)) },
		"stable":   func(s *Store) { _ = s.SetUint64([]byte("CurrentTerm"), 1) },
		"snapshot": func(s *Store) { writeSnap(t, s.Snapshots(), 5, 1, []byte("x")) },
	} {
		t.Run(name, func(t *testing.T) {
			dst := testStore(t)
			prep(dst)
			before, _ := dst.LastIndex()
			if _, err := Migrate(dst, MigrateSource{Logs: src}); !errors.Is(err, ErrNotEmpty) {
				t.Fatalf("Migrate into a store holding a %s: %v", name, err)
			}
			if after, _ := dst.LastIndex(); after != before {
				t.Fatalf("log changed from %d to %d", before, after)
			}
		})
	}
	if _, err := Migrate(testStore(t), MigrateSource{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatal("Migrate without a source log succeeded")
	}
}

// TestMigrateThenRaft runs a single-node raft on raft's own stores
// (InmemStore, FileSnapshotStore), with snapshots and compaction, stops it,
// migrates it, and starts raft on the spool store: the node comes back
// with the same state machine and keeps committing.
func TestMigrateThenRaft(t *testing.T) {
	src := raft.NewInmemStore()
	fss := fileSnapshots(t, 2)
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: "n1", Address: "n1"}}}
	run := func(logs raft.LogStore, stable raft.StableStore, snaps raft.SnapshotStore, bootstrap bool, from, to uint64) *testFSM {
		t.Helper()
		fsm := &testFSM{}
		_, trans := raft.NewInmemTransport("n1")
		rc := testRaftConfig("n1")
		_, rc.RestoreCommittedLogs = logs.(raft.CommitTrackingLogStore)
		if bootstrap {
			if err := raft.BootstrapCluster(rc, logs, stable, snaps, trans, conf); err != nil {
				t.Fatal(err)
			}
		}
		r, err := raft.NewRaft(rc, fsm, logs, stable, snaps, trans)
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := r.Shutdown().Error(); err != nil {
				t.Error(err)
			}
			_ = trans.Close()
		}()
		deadline := time.Now().Add(stallLimit)
		for r.State() != raft.Leader {
			if time.Now().After(deadline) {
				t.Fatal("no leader")
			}
			time.Sleep(time.Millisecond)
		}
		n := &testNode{raft: r}
		if err := applyVia(n, from, to, map[uint64]bool{}); err != nil {
			t.Fatal(err)
		}
		if from == 0 {
			if err := r.Snapshot().Error(); err != nil {
				t.Fatal(err)
			}
			if err := applyVia(n, to, to+300, map[uint64]bool{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Barrier(stallLimit).Error(); err != nil {
			t.Fatal(err)
		}
		return fsm
	}
	before := run(src, src, fss, true, 0, 2000).state()
	if first, _ := src.FirstIndex(); first <= 1 {
		t.Fatalf("source log not compacted (first %d)", first)
	}

	dst := testStore(t)
	st, err := Migrate(dst, MigrateSource{Logs: src, Stable: src, Snapshots: fss})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("migrated: %+v", st)
	if ok, err := raft.HasExistingState(dst, dst, dst.Snapshots()); err != nil || !ok {
		t.Fatalf("HasExistingState after Migrate: %v, %v", ok, err)
	}
	after := run(dst, dst, dst.Snapshots(), false, 2300, 2400)
	got := after.state()
	if got.count != before.count+100 {
		t.Fatalf("after migration: %d commands applied, want %d + 100", got.count, before.count)
	}
	for id := range uint64(2400) {
		if !after.has(id) {
			t.Fatalf("command %d missing after migration", id)
		}
	}
}
