//go:build linux

package journal

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spoolhq/spool/internal/childkill"
)

// The child half of TestSIGKILL: append entries (sizes from tiny to
// multi-segment) and print each acknowledged (durable) index.
func TestSIGKILLChild(t *testing.T) {
	dir := os.Getenv("SPOOL_SIGKILL_DIR")
	if dir == "" {
		t.Skip("child process of TestSIGKILL")
	}
	j, err := Open(dir, &Options{SegmentSize: testSegSize, Sync: SyncEach})
	if err != nil {
		fmt.Println("open error:", err)
		os.Exit(3)
	}
	out := bufio.NewWriter(os.Stdout)
	for {
		i := j.LastIndex() + 1
		if _, err := j.AppendBytes(payload(i, killSize(i))); err != nil {
			// The parent shows this line; the child exits either way,
			// so a failure to print it changes nothing.
			_, _ = fmt.Fprintln(out, "append error:", err)
			_ = out.Flush()
			os.Exit(3)
		}
		// A bufio.Writer's error sticks: Flush reports a failed Fprintln.
		_, _ = fmt.Fprintln(out, i)
		if err := out.Flush(); err != nil {
			// An acknowledgement the parent cannot read is lost: stop.
			fmt.Fprintln(os.Stderr, "printing acknowledgement", i, "failed:", err)
			os.Exit(3)
		}
	}
}

func killSize(i uint64) int {
	switch i % 11 {
	case 0:
		return 3 * testSegSize / 2
	case 1:
		return 0
	}
	return int(i*131) % 5000
}

// TestSIGKILL re-executes the test binary as a child that appends durable
// entries, kills it with SIGKILL at a random point of its progress, reopens
// the journal and checks that every entry the child reported as
// acknowledged is there, byte-identical, and that the log is a contiguous
// prefix. The kill follows the child's reports, not a clock: it comes only
// after the child's first acknowledgement (a child killed earlier, still
// opening the journal on a busy machine, would test nothing), after a
// random number of further ones and a random pause inside the append that
// follows. Rounds: SPOOL_SIGKILL_ROUNDS (default 8, 3 under -short).
func TestSIGKILL(t *testing.T) {
	if os.Getenv("SPOOL_SIGKILL_DIR") != "" {
		t.Skip("in the child")
	}
	rounds := envIntShort("SPOOL_SIGKILL_ROUNDS", 8, 3)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	var recovered uint64 // what the previous round recovered
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SPOOL_SIGKILL_DIR="+dir)
		after := rng.IntN(40) // acknowledgements after the first
		jitter := time.Duration(rng.IntN(3000)) * time.Microsecond
		var firstAck, acked uint64
		var bad string
		err := childkill.Run(t, cmd, func(line string) bool {
			n, err := strconv.ParseUint(line, 10, 64)
			switch {
			case err == nil:
				if firstAck == 0 {
					firstAck = n
				} else if n != acked+1 {
					bad = fmt.Sprintf("acknowledged %d after %d", n, acked)
					return true
				}
				acked = n
				if acked-firstAck == uint64(after) {
					time.Sleep(jitter) // anywhere inside the next append
					return true
				}
			case line == "", strings.HasPrefix(line, "=== RUN"), strings.HasPrefix(line, "PASS"):
			default:
				if bad == "" {
					bad = fmt.Sprintf("child said %q", line)
				}
				return true
			}
			return false
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if bad != "" {
			t.Fatalf("round %d: %s", round, bad)
		}
		// The child appends from where the last recovery left the log.
		if firstAck != recovered+1 {
			t.Fatalf("round %d: first acknowledgement %d, the log held %d entries", round, firstAck, recovered)
		}
		j, err := Open(dir, &Options{SegmentSize: testSegSize})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if j.LastIndex() < acked {
			t.Fatalf("round %d: acknowledged %d, recovered only up to %d", round, acked, j.LastIndex())
		}
		checkEntries(t, j, 1, j.LastIndex(), killSize)
		recovered = j.LastIndex()
		t.Logf("round %d: acknowledged %d-%d, recovered %d", round, firstAck, acked, recovered)
		mustClose(t, j)
	}
}
