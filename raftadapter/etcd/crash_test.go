package etcd

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/spoolhq/spool/mmapio/crashfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestCrashRestart runs a one-node raft group on a crashable disk
// (internal/crashfs), cuts the power at a random operation — inside an
// append, a sync, a HardState write, a snapshot, a compaction — builds the
// disk a reboot finds, and checks on it that:
//
//   - the Storage opens (no corruption reported for a crash);
//   - raft restarts on it: the commit index lies in [FirstIndex()-1,
//     LastIndex()] and is at least the snapshot's index (Config.Applied);
//   - every write the state machine applied before the crash (the
//     client's acknowledgement) is in the snapshot or the log;
//   - the restarted node commits a new proposal and applies it after all
//     of them.
//
// SPOOL_ETCD_CRASH_SEEDS sets the number of crash points (default 40).
// TestInterruptedFirstSave covers the earliest crash points
// deterministically.
func TestCrashRestart(t *testing.T) {
	seeds := 40
	if v, err := strconv.Atoi(os.Getenv("SPOOL_ETCD_CRASH_SEEDS")); err == nil && v > 0 {
		seeds = v
	}
	// A run without a crash measures the operations a run makes.
	total := func() int64 {
		fs := crashfs.New()
		defer fs.Close()
		r := &crashRun{t: t, fs: fs, rng: newRand(0)}
		r.run(-1)
		return fs.Ops()
	}()
	for seed := range seeds {
		rng := newRand(uint64(seed) + 1)
		at := 1 + rng.Int64N(total)
		t.Run(fmt.Sprintf("seed%d-op%d", seed, at), func(t *testing.T) {
			fs := crashfs.New()
			defer fs.Close()
			r := &crashRun{t: t, fs: fs, rng: rng}
			r.run(at)
			snap := fs.Crashed()
			if snap == nil {
				snap = fs.Crash()
			}
			img, err := snap.Image(crashfs.Random(uint64(seed)))
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			r.check(img)
		})
	}
}

const crashDir = "/raft"

type crashRun struct {
	t     *testing.T
	fs    *crashfs.FS
	rng   interface{ IntN(int) int }
	acked map[string]string // applied before the crash
}

func crashConfig(st *Storage, applied uint64) *raft.Config {
	return &raft.Config{ID: 1, ElectionTick: 10, HeartbeatTick: 1, Storage: st, Applied: applied,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256}
}

// run drives the node until the crash armed after op at (or, at < 0,
// through the whole workload) and abandons it.
func (r *crashRun) run(at int64) {
	t := r.t
	r.acked = map[string]string{}
	st, err := Open(crashDir, &Options{JournalOptions: JournalOptions{FS: r.fs, SegmentSize: 64 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }() // the abandoned instance: errors expected
	if at >= 0 {
		r.fs.CrashAfter(max(at-r.fs.Ops(), 0))
	}
	rn, err := raft.NewRawNode(crashConfig(st, 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := rn.Bootstrap([]raft.Peer{{ID: 1}}); err != nil {
		t.Fatal(err)
	}
	kv := map[string]string{}
	var applied, lastSnap, seq uint64
	cs := &pb.ConfState{}
	for i := 0; i < 300; i++ {
		if rn.BasicStatus().RaftState == raft.StateLeader {
			for range 1 + r.rng.IntN(4) {
				// Values start with a sequence number, increasing in
				// proposal (hence log) order.
				seq++
				v := strings.Repeat("v", r.rng.IntN(3000))
				_ = rn.Propose(fmt.Appendf(nil, "k%d=%d-%s", r.rng.IntN(200), seq, v))
			}
		} else {
			rn.Tick()
		}
		for rn.HasReady() {
			rd := rn.Ready()
			if err := st.SaveReady(rd); err != nil {
				if at < 0 || !errors.Is(err, crashfs.ErrCrashed) {
					t.Fatalf("SaveReady: %v", err)
				}
				return
			}
			for _, e := range rd.CommittedEntries {
				applied = e.GetIndex()
				switch e.GetType() {
				case pb.EntryNormal:
					if k, v, ok := strings.Cut(string(e.Data), "="); ok {
						kv[k] = v
						r.acked[k] = v
					}
				case pb.EntryConfChange:
					var cc pb.ConfChange
					if err := proto.Unmarshal(e.Data, &cc); err != nil {
						t.Fatal(err)
					}
					cs = rn.ApplyConfChange(&cc)
				}
			}
			rn.Advance(rd)
		}
		if applied >= lastSnap+40 {
			lastSnap = applied
			_, err := st.CreateSnapshot(applied, cs, encodeKV(kv))
			if err == nil && applied > 10 {
				err = st.Compact(applied - 10)
			}
			if err != nil {
				if at < 0 || !errors.Is(err, crashfs.ErrCrashed) {
					t.Fatalf("snapshot: %v", err)
				}
				return
			}
		}
	}
}

// check reopens the storage on the rebooted disk and restarts raft on it.
func (r *crashRun) check(img *crashfs.FS) {
	t := r.t
	st, err := Open(crashDir, &Options{JournalOptions: JournalOptions{FS: img, SegmentSize: 64 << 10}})
	if err != nil {
		t.Fatalf("Open after the crash: %v", err)
	}
	defer func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}()
	snap, err := st.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	hs, _, _ := st.InitialState()
	first, _ := st.FirstIndex()
	last, _ := st.LastIndex()
	si := snap.GetMetadata().GetIndex()
	if c := hs.GetCommit(); hs != nil && (c+1 < first || c > last || c < si) {
		t.Fatalf("commit %d outside [%d, %d] or below the snapshot %d", c, first-1, last, si)
	}
	// Every acknowledged write is on the disk: snapshot, then the log.
	kv := decodeKV(snap.Data)
	if last > si {
		ents, err := st.Entries(si+1, last+1, math.MaxUint64)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if k, v, ok := strings.Cut(string(e.Data), "="); ok && e.GetType() == pb.EntryNormal {
				kv[k] = v
			}
		}
	}
	// r.acked holds the last value applied for each key; the disk may hold
	// a later one, durable but not yet applied at the crash.
	for k, v := range r.acked {
		if valueSeq(kv[k]) < valueSeq(v) {
			t.Fatalf("acknowledged %s=%.20s... not on disk (found %.20q)", k, v, kv[k])
		}
	}
	// Raft restarts on it, and commits and applies a new proposal.
	empty := st.Empty()
	rn, err := raft.NewRawNode(crashConfig(st, si))
	if err != nil {
		t.Fatalf("raft refuses the recovered storage: %v", err)
	}
	if empty {
		// The crash cut the bootstrap short: bootstrap again, as
		// StartNode does for an Empty Storage.
		if err := rn.Bootstrap([]raft.Peer{{ID: 1}}); err != nil {
			t.Fatalf("bootstrap on the recovered storage: %v", err)
		}
	}
	done, proposed := false, false
	for i := 0; i < 1000 && !done; i++ {
		if !proposed && rn.BasicStatus().RaftState == raft.StateLeader {
			_ = rn.Propose([]byte("after=crash"))
			proposed = true
		}
		if !rn.HasReady() {
			rn.Tick()
			continue
		}
		rd := rn.Ready()
		if err := st.SaveReady(rd); err != nil {
			t.Fatal(err)
		}
		for _, e := range rd.CommittedEntries {
			if e.GetIndex() <= si {
				t.Fatalf("entry %d re-applied below the snapshot %d", e.GetIndex(), si)
			}
			if string(e.Data) == "after=crash" {
				done = true
			}
			if e.GetType() == pb.EntryConfChange {
				var cc pb.ConfChange
				if err := proto.Unmarshal(e.Data, &cc); err != nil {
					t.Fatal(err)
				}
				rn.ApplyConfChange(&cc)
			}
		}
		rn.Advance(rd)
	}
	if !done {
		t.Fatal("the restarted node did not commit a new proposal")
	}
}

func valueSeq(v string) uint64 {
	n, _, _ := strings.Cut(v, "-")
	x, _ := strconv.ParseUint(n, 10, 64)
	return x
}

// TestInterruptedFirstSave cuts the power at every operation of a node's
// first Ready (its bootstrap: entries and a HardState), with every unsynced
// change lost and with every one landed. A reboot finds either nothing
// (Open discarded the entries of the interrupted Save: the node bootstraps
// again, instead of restarting on a log whose configuration was never
// committed, where a one-node group would never elect a leader) or the
// whole Save; never entries without their HardState.
func TestInterruptedFirstSave(t *testing.T) {
	firstReady := func(fs *crashfs.FS) (*Storage, raft.Ready, error) {
		st, err := Open(crashDir, &Options{JournalOptions: JournalOptions{FS: fs, SegmentSize: 64 << 10}})
		if err != nil {
			return nil, raft.Ready{}, err
		}
		rn, err := raft.NewRawNode(crashConfig(st, 0))
		if err == nil {
			err = rn.Bootstrap([]raft.Peer{{ID: 1}})
		}
		if err != nil {
			_ = st.Close()
			return nil, raft.Ready{}, err
		}
		return st, rn.Ready(), nil
	}
	// A run without a crash counts the operations of the Save.
	fs := crashfs.New()
	st, rd, err := firstReady(fs)
	if err != nil {
		t.Fatal(err)
	}
	before := fs.Ops()
	if err := st.SaveReady(rd); err != nil {
		t.Fatal(err)
	}
	total := fs.Ops() - before
	_ = st.Close()
	_ = fs.Close()
	emptied, whole := 0, 0
	for at := range total + 1 {
		for _, d := range []crashfs.Decider{crashfs.AllOld, crashfs.AllNew} {
			fs := crashfs.New()
			st, rd, err := firstReady(fs)
			if err != nil {
				t.Fatal(err)
			}
			fs.CrashAfter(at)
			if err := st.SaveReady(rd); err != nil && !errors.Is(err, crashfs.ErrCrashed) {
				t.Fatalf("op %d: SaveReady: %v", at, err)
			}
			snap := fs.Crash()
			_ = st.Close()
			img, err := snap.Image(d)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Open(crashDir, &Options{JournalOptions: JournalOptions{FS: img, SegmentSize: 64 << 10}})
			if err != nil {
				t.Fatalf("op %d: Open after the crash: %v", at, err)
			}
			hs, _, _ := s.InitialState()
			last, _ := s.LastIndex()
			switch {
			case s.Empty():
				emptied++
				if _, err := startCommitNode(s, 0); err != nil { // bootstraps again
					t.Fatalf("op %d: bootstrap again: %v", at, err)
				}
			case hs != nil && last == 1:
				whole++
			default:
				t.Fatalf("op %d: after the crash HardState %v, LastIndex %d", at, hs, last)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			_ = img.Close()
			_ = fs.Close()
		}
	}
	if emptied == 0 || whole == 0 {
		t.Fatalf("of %d crash points, %d left an Empty Storage and %d the whole Save", total+1, emptied, whole)
	}
	t.Logf("%d operations in the first Save: %d crash images Empty, %d with the whole Save", total, emptied, whole)
}

// TestAppendWithoutHardStateKept: entries appended with Append, with no
// HardState ever recorded (an application porting from MemoryStorage
// might), are kept across a reopen and across a crash once synced.
func TestAppendWithoutHardStateKept(t *testing.T) {
	ents := index(1).terms(1, 1, 2)
	for _, crash := range []bool{false, true} {
		fs := crashfs.New()
		st, err := Open(crashDir, &Options{JournalOptions: JournalOptions{FS: fs, SegmentSize: 64 << 10}})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Append(ents); err != nil {
			t.Fatal(err)
		}
		if err := st.Sync(); err != nil {
			t.Fatal(err)
		}
		img := fs
		if crash {
			snap := fs.Crash()
			if img, err = snap.Image(crashfs.AllOld); err != nil {
				t.Fatal(err)
			}
		}
		_ = st.Close()
		st, err = Open(crashDir, &Options{JournalOptions: JournalOptions{FS: img, SegmentSize: 64 << 10}})
		if err != nil {
			t.Fatal(err)
		}
		if hs, _, _ := st.InitialState(); hs != nil || st.Empty() {
			t.Fatalf("crash %v: HardState %v, Empty %v", crash, hs, st.Empty())
		}
		requireEntries(t, append(index(0).terms(0), ents...), allEntries(t, st))
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if img != fs {
			_ = img.Close()
		}
		_ = fs.Close()
	}
}
