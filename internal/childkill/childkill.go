//go:build unix

// Package childkill runs a test's child process and kills it with SIGKILL
// at a point chosen from what the child reports, not from a clock: the
// SIGKILL tests of the journal and the adapters re-execute their test
// binary as a writer, read its acknowledgements line by line, and kill it
// after a random amount of progress, so that a busy machine slows them
// down without making them test nothing. Only tests import this package.
package childkill

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// StallLimit bounds how long a SIGKILL child may go without printing a
// line before the test gives up on it: a failure guard for a hung child,
// far above any pause a busy machine causes, not a pace the child must keep.
const StallLimit = 2 * time.Minute

// Run starts cmd, hands each line of its stdout to onLine
// as it arrives, and kills the child with SIGKILL the first time onLine
// returns true (onLine runs on the caller's goroutine, so it may sleep to
// move the kill point). It returns once the child has exited and every
// line it wrote, before the kill and in the moment until it took effect,
// has been handed to onLine in order. A child that exits by itself, or
// prints nothing for StallLimit, is an error (with its stderr).
func Run(t testing.TB, cmd *exec.Cmd, onLine func(string) bool) error {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	killed, stalled := false, false
	guard := time.NewTimer(StallLimit)
	defer guard.Stop()
	for open := true; open; {
		select {
		case line, ok := <-lines:
			if !ok {
				open = false
				break
			}
			guard.Reset(StallLimit)
			if onLine(line) && !killed {
				killed = true
				_ = cmd.Process.Signal(syscall.SIGKILL)
			}
		case <-guard.C:
			stalled = true
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	werr := cmd.Wait()
	switch {
	case stalled:
		return fmt.Errorf("the child printed nothing for %v; killed it (stderr: %q)", StallLimit, stderr.String())
	case !killed:
		return fmt.Errorf("the child exited by itself (%v; stderr: %q)", werr, stderr.String())
	}
	return nil
}
