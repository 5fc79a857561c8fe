package journal

import (
	"fmt"
	"os"
	"testing"

	"github.com/spoolhq/spool/internal/leakcheck"
)

// TestMain fails the package if any journal goroutine (committer,
// prefaulter, spare maker, sync waiter) outlives the tests: every Close must stop them.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakcheck.Leaked("spool/journal.(*Journal)"); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by journal tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}
