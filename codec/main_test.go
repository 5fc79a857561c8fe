package codec_test

import (
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/spoolhq/spool/internal/leakcheck"
)

var ioEOF = io.EOF

// TestMain fails the package if a journal goroutine outlives the tests:
// every journal a test opens must be closed.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakcheck.Leaked("spool/journal.", "spool/codec."); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by codec tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}
