package hashicorp

import (
	"fmt"
	"os"
	"testing"

	"github.com/spoolhq/spool/internal/leakcheck"
)

// TestMain fails the package if a goroutine of the journal, of raft or of
// this package outlives the tests: every raft must be shut down and every
// Store closed.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakcheck.Leaked("spool/journal.", "hashicorp/raft.", "raftadapter/hashicorp."); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}
