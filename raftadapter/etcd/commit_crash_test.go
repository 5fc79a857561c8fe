package etcd

import (
	"fmt"
	"testing"

	"github.com/spoolhq/spool/mmapio/crashfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// commitNode is a one-node raft group on a Storage, driven by hand.
type commitNode struct {
	st      *Storage
	rn      *raft.RawNode
	applied uint64
	seq     int
}

// startCommitNode starts raft on st with Config.Applied = applied,
// bootstrapping an Empty Storage. raft reports a HardState it cannot use by
// panicking (raftLog.appliedTo, raft.loadState): that is returned as an
// error.
func startCommitNode(st *Storage, applied uint64) (n *commitNode, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("raft.NewRawNode panicked: %v", p)
		}
	}()
	empty := st.Empty()
	rn, err := raft.NewRawNode(crashConfig(st, applied))
	if err != nil {
		return nil, err
	}
	if empty {
		if err := rn.Bootstrap([]raft.Peer{{ID: 1}}); err != nil {
			return nil, err
		}
	}
	return &commitNode{st: st, rn: rn, applied: applied}, nil
}

// step runs one round of the Ready loop: tick or propose, SaveReady, apply.
func (n *commitNode) step() error {
	if n.rn.BasicStatus().RaftState == raft.StateLeader {
		n.seq++
		if err := n.rn.Propose(fmt.Appendf(nil, "p%d", n.seq)); err != nil {
			return err
		}
	} else {
		n.rn.Tick()
	}
	for n.rn.HasReady() {
		rd := n.rn.Ready()
		if err := n.st.SaveReady(rd); err != nil {
			return err
		}
		for _, e := range rd.CommittedEntries {
			if e.GetIndex() <= n.applied {
				return fmt.Errorf("entry %d applied again (applied %d)", e.GetIndex(), n.applied)
			}
			n.applied = e.GetIndex()
			if e.GetType() == pb.EntryConfChange {
				var cc pb.ConfChange
				if err := proto.Unmarshal(e.Data, &cc); err != nil {
					return err
				}
				cs := n.rn.ApplyConfChange(&cc)
				// raft does not hand out entries at or below
				// Config.Applied again, so an application restarting with
				// it keeps its ConfState too: here in a snapshot.
				if _, err := n.st.CreateSnapshot(e.GetIndex(), cs, nil); err != nil {
					return err
				}
			}
		}
		n.rn.Advance(rd)
	}
	return nil
}

// applyPast runs the loop until an entry past target has been applied.
func (n *commitNode) applyPast(target uint64) error {
	for i := 0; n.applied <= target; i++ {
		if i > 100_000 {
			return fmt.Errorf("no progress: applied %d, want past %d", n.applied, target)
		}
		if err := n.step(); err != nil {
			return err
		}
	}
	return nil
}

// TestCommitSurvivesCrash is issue 12's reproduction on a crashable disk:
// a one-node group commits and applies about 100 entries, the Storage is
// synced (Sync), then the power is cut with nothing closed. Every
// reboot image (every unsynced change lost, then random fates) must come
// back with a commit index at least the applied one, and raft must
// restart with Config.Applied set to it, as an application that persists
// its applied index passes it, and go on committing.
func TestCommitSurvivesCrash(t *testing.T) {
	fs := crashfs.New()
	defer fs.Close()
	st, err := Open(crashDir, &Options{JournalOptions: JournalOptions{FS: fs, SegmentSize: 64 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := startCommitNode(st, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.applyPast(100); err != nil {
		t.Fatal(err)
	}
	if err := st.Sync(); err != nil { // commit, sync, apply: then the crash
		t.Fatal(err)
	}
	applied := n.applied
	snap := fs.Crash()
	_ = st.Close() // the abandoned instance: errors expected
	deciders := []struct {
		name string
		d    crashfs.Decider
	}{{"all-old", crashfs.AllOld}, {"all-new", crashfs.AllNew}}
	for seed := range uint64(4) {
		deciders = append(deciders, struct {
			name string
			d    crashfs.Decider
		}{fmt.Sprintf("random%d", seed), crashfs.Random(seed)})
	}
	for _, dc := range deciders {
		t.Run(dc.name, func(t *testing.T) {
			img, err := snap.Image(dc.d)
			if err != nil {
				t.Fatal(err)
			}
			defer img.Close()
			st, err := Open(crashDir, &Options{JournalOptions: JournalOptions{FS: img, SegmentSize: 64 << 10}})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := st.Close(); err != nil {
					t.Error(err)
				}
			}()
			hs, _, _ := st.InitialState()
			last, _ := st.LastIndex()
			t.Logf("applied %d before the crash; after it HardState commit %d, LastIndex %d", applied, hs.GetCommit(), last)
			if hs.GetCommit() < applied {
				t.Errorf("HardState commit %d after the crash, below the applied (and synced) %d", hs.GetCommit(), applied)
			}
			n, err := startCommitNode(st, applied)
			if err != nil {
				t.Fatalf("restart with Applied %d: %v", applied, err)
			}
			if err := n.applyPast(applied + 5); err != nil {
				t.Fatal(err)
			}
		})
	}
}
