// Package leakcheck finds goroutines that outlive a package's tests. Each
// package's TestMain calls Leaked after m.Run with the stack-frame markers of
// the goroutines it owns (its own package, the journal's background
// goroutines, a Raft engine's).
package leakcheck

import (
	"runtime"
	"strings"
	"time"
)

// leakWait bounds how long Leaked waits for goroutines to exit: a goroutine
// that is merely slow to be scheduled on a busy machine is not a leak, and
// the wait costs time only when something really leaked.
const leakWait = time.Minute

// Leaked waits up to a minute for every goroutine whose stack contains one
// of markers to exit, and returns the stacks of those that did not ("" if
// none).
func Leaked(markers ...string) string {
	deadline := time.Now().Add(leakWait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "leakcheck.Leaked") {
				continue
			}
			for _, m := range markers {
				if strings.Contains(g, m) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
