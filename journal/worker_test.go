package journal

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// journalGoroutines returns, for each loop, how many goroutines run it.
func journalGoroutines(loops []string) map[string]int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := make(map[string]int)
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, l := range loops {
			if strings.Contains(g, "spool/journal.(*Journal)."+l) {
				n[l]++
			}
		}
	}
	return n
}

// The background goroutines run Journal methods, so that their stacks name
// (*Journal) as the leak checks (TestMain, cmd/spool) expect even while
// they wait in a worker type's code; and Close stops every one.
func TestWorkersNameJournalAndStop(t *testing.T) {
	loops := []string{"spareLoop", "prefaultLoop", "commitLoop"}
	o := testOpts()
	o.Sync = GroupCommit
	j := mustOpen(t, t.TempDir(), o)
	// A goroutine that has not run yet shows only worker.start's
	// closure; wait until each has entered its loop. The deadline only
	// turns a loop that never starts into a failure.
	deadline := time.Now().Add(time.Minute)
	var n map[string]int
	for {
		n = journalGoroutines(loops)
		if len(n) == len(loops) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, l := range loops {
		if n[l] != 1 {
			t.Errorf("%d goroutines run (*Journal).%s, want 1", n[l], l)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	// stop waits for each goroutine to return, so none is left now.
	if n := journalGoroutines(loops); len(n) != 0 {
		t.Fatalf("after Close: %v", n)
	}
}
