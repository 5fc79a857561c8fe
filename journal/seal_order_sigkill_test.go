//go:build linux

package journal

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/spoolhq/spool/internal/childkill"
	"github.com/spoolhq/spool/mmapio"
)

// The child half of TestSIGKILLSealOrder: the seal-order workload
// (GroupCommit, spanning entries, TruncateFront, overlapping Sync calls)
// forever, printing each index acknowledged durable, while a checker reads
// the trailers on disk and exits the child with a message the moment a
// later segment is sealed before an earlier one.
func TestSIGKILLSealOrderChild(t *testing.T) {
	dir := os.Getenv("SPOOL_SEAL_SIGKILL_DIR")
	if dir == "" {
		t.Skip("child process of TestSIGKILLSealOrder")
	}
	j, err := Open(dir, &Options{SegmentSize: testSegSize, Sync: GroupCommit})
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(3)
	}
	watchTrailerOrder(mmapio.OS, dir, func(err error) { // runs until the kill
		fmt.Println("trailer order broken:", err)
		os.Exit(7)
	})
	seed, _ := strconv.ParseUint(os.Getenv("SPOOL_SEAL_SIGKILL_SEED"), 10, 64)
	rng := rand.New(rand.NewPCG(seed, 7))
	err = sealOrderWorkload(j, rng, 1<<30, func(idx uint64) { fmt.Println(idx) })
	fmt.Println("workload error:", err)
	os.Exit(3)
}

// TestSIGKILLSealOrder kills a seal-order writer child with SIGKILL after
// a random number of durable acknowledgements (counted from its first, so
// a busy machine only slows the test down) and checks the directory:
// Verify finds no corruption, Open succeeds, every entry from the first to
// the last reads back as appended, and nothing acknowledged durable is
// lost. Rounds: SPOOL_SIGKILL_ROUNDS (default 4, 1 under -short).
func TestSIGKILLSealOrder(t *testing.T) {
	if os.Getenv("SPOOL_SEAL_SIGKILL_DIR") != "" {
		t.Skip("in the child")
	}
	rounds := envIntShort("SPOOL_SIGKILL_ROUNDS", 4, 1)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLSealOrderChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SPOOL_SEAL_SIGKILL_DIR="+dir, fmt.Sprintf("SPOOL_SEAL_SIGKILL_SEED=%d", round))
		after := 1 + rng.IntN(60) // durable acknowledgements before the kill
		var acks int
		var acked uint64
		var bad string
		err := childkill.Run(t, cmd, func(line string) bool {
			n, err := strconv.ParseUint(line, 10, 64)
			switch {
			case err == nil:
				acked = max(acked, n)
				acks++
				return acks >= after
			case line == "", strings.HasPrefix(line, "=== RUN"), strings.HasPrefix(line, "PASS"):
				return false
			}
			if bad == "" {
				bad = fmt.Sprintf("child said %q", line)
			}
			return true
		})
		if err != nil {
			t.Fatalf("round %d: %v (%s)", round, err, bad)
		}
		if bad != "" {
			t.Fatalf("round %d: %s", round, bad)
		}
		rep, err := Verify(dir, nil)
		if err != nil {
			t.Fatalf("round %d: verify: %v", round, err)
		}
		if rep.Verdict == VerdictCorrupt {
			t.Fatalf("round %d: after SIGKILL the directory verifies as corrupt: %v", round, rep.Problem)
		}
		j, err := Open(dir, &Options{SegmentSize: testSegSize})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if j.LastIndex() < acked {
			t.Fatalf("round %d: acknowledged durable up to %d, recovered only up to %d", round, acked, j.LastIndex())
		}
		for i := j.FirstIndex(); i <= j.LastIndex(); i++ {
			got, err := j.ReadBytes(i, nil)
			if err != nil {
				t.Fatalf("round %d: entry %d of [%d,%d]: %v", round, i, j.FirstIndex(), j.LastIndex(), err)
			}
			if want := payload(i, len(got)); string(got) != string(want) {
				t.Fatalf("round %d: entry %d is not what was appended at its index", round, i)
			}
		}
		t.Logf("round %d: %d acknowledgements up to %d, recovered [%d,%d], verify %v", round, acks, acked, j.FirstIndex(), j.LastIndex(), rep.Verdict)
		mustClose(t, j)
	}
}
