//go:build linux

package etcd

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/spoolhq/spool/internal/childkill"
)

// TestCommitSIGKILLChild is the child half of TestCommitSIGKILL: a one-node
// group that commits entries, and after each batch it applied calls Sync
// and then reports "A <applied>" on stdout, the point where an application
// would persist its applied index. It runs until killed (or until its
// stdout is gone, or a bound far past what a round needs).
func TestCommitSIGKILLChild(t *testing.T) {
	dir := os.Getenv("SPOOL_ETCD_COMMITKILL_DIR")
	if dir == "" {
		t.Skip("child process of TestCommitSIGKILL")
	}
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(3)
	}
	st, err := Open(dir, &Options{JournalOptions: JournalOptions{SegmentSize: 64 << 10}})
	if err != nil {
		fail(err)
	}
	applied, _ := strconv.ParseUint(os.Getenv("SPOOL_ETCD_COMMITKILL_APPLIED"), 10, 64)
	n, err := startCommitNode(st, applied)
	if err != nil {
		fail(err)
	}
	for range 1_000_000 {
		before := n.applied
		if err := n.step(); err != nil {
			fail(err)
		}
		if n.applied == before {
			continue
		}
		if err := st.Sync(); err != nil {
			fail(err)
		}
		if _, err := fmt.Printf("A %d\n", n.applied); err != nil {
			os.Exit(3)
		}
	}
	os.Exit(4)
}

// TestCommitSIGKILL re-executes the test binary as a child running a
// one-node group (TestCommitSIGKILLChild), kills it with SIGKILL once it
// has reported a random number of synced, applied batches, reopens the
// Storage and restarts raft with Config.Applied set to the last applied
// index the child reported, as an application that persists its applied
// index does: raft must start (it panics if the HardState's commit index is
// below Applied) and commit a new entry. The next round's child restarts
// from there. Rounds: SPOOL_SIGKILL_ROUNDS (default 4).
func TestCommitSIGKILL(t *testing.T) {
	if os.Getenv("SPOOL_ETCD_COMMITKILL_DIR") != "" {
		t.Skip("in the child")
	}
	rounds := 4
	if v, err := strconv.Atoi(os.Getenv("SPOOL_SIGKILL_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(12, 2))
	var applied uint64
	for round := 1; round <= rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCommitSIGKILLChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SPOOL_ETCD_COMMITKILL_DIR="+dir,
			fmt.Sprintf("SPOOL_ETCD_COMMITKILL_APPLIED=%d", applied))
		// Kill after the child reported this many synced, applied batches.
		killAfter := 20 + rng.IntN(200)
		reports := 0
		var other []string
		err := childkill.Run(t, cmd, func(line string) bool {
			a, ok := strings.CutPrefix(line, "A ")
			if !ok {
				if line != "" {
					other = append(other, line)
				}
				return false
			}
			v, err := strconv.ParseUint(a, 10, 64)
			if err != nil {
				other = append(other, line)
				return true
			}
			// Lines read after the kill were printed after their Sync
			// returned too.
			applied = max(applied, v)
			reports++
			return reports >= killAfter
		})
		if err != nil {
			t.Fatalf("round %d: %v after %d reports (child said %q)", round, err, reports, other)
		}
		if len(other) > 0 {
			t.Fatalf("round %d: child said %q", round, other)
		}

		st, err := Open(dir, &Options{JournalOptions: JournalOptions{SegmentSize: 64 << 10}})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		hs, _, _ := st.InitialState()
		last, _ := st.LastIndex()
		t.Logf("round %d: killed after %d reports; applied %d, HardState commit %d, LastIndex %d", round, reports, applied, hs.GetCommit(), last)
		if hs.GetCommit() < applied {
			t.Errorf("round %d: HardState commit %d after SIGKILL, below the applied (and synced) %d", round, hs.GetCommit(), applied)
		}
		n, err := startCommitNode(st, applied)
		if err == nil {
			err = n.applyPast(applied)
		}
		if cerr := st.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatalf("round %d: restart with Applied %d: %v", round, applied, err)
		}
		applied = n.applied
	}
}
