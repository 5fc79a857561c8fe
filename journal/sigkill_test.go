//go:build linux

package journal

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
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
			fmt.Fprintln(out, "append error:", err)
			out.Flush()
			os.Exit(3)
		}
		fmt.Fprintln(out, i)
		out.Flush()
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
// entries, kills it with SIGKILL at a random moment, reopens the journal
// and checks that every entry the child reported as acknowledged is there,
// byte-identical, and that the log is a contiguous prefix. Rounds:
// SPOOL_SIGKILL_ROUNDS (default 8).
func TestSIGKILL(t *testing.T) {
	if os.Getenv("SPOOL_SIGKILL_DIR") != "" {
		t.Skip("in the child")
	}
	rounds := envInt("SPOOL_SIGKILL_ROUNDS", 8)
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < rounds; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSIGKILLChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "SPOOL_SIGKILL_DIR="+dir)
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+rng.IntN(150)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		var acked uint64
		for _, line := range bytes.Split(stdout.Bytes(), []byte("\n")) {
			if n, err := strconv.ParseUint(string(line), 10, 64); err == nil {
				acked = n
			} else if len(line) > 0 && !bytes.HasPrefix(line, []byte("=== RUN")) && !bytes.HasPrefix(line, []byte("PASS")) {
				t.Fatalf("round %d: child said %q", round, line)
			}
		}
		j, err := Open(dir, &Options{SegmentSize: testSegSize})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if j.LastIndex() < acked {
			t.Fatalf("round %d: acknowledged %d, recovered only up to %d", round, acked, j.LastIndex())
		}
		checkEntries(t, j, 1, j.LastIndex(), killSize)
		t.Logf("round %d: acknowledged %d, recovered %d", round, acked, j.LastIndex())
		j.Close()
	}
}
