package etcdwire

import (
	"fmt"
	"os"
	"testing"

	"github.com/spoolhq/spool/internal/leakcheck"
)

// TestMain fails the package if a goroutine of this package or of a test's
// writer side outlives the tests: every pipe and connection a test opens
// must be closed, so that the goroutine writing into it ends.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakcheck.Leaked("raftadapter/etcdwire.", "raftadapter/etcdwire_test."); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}
