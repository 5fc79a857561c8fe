package main

import (
	"fmt"
	"io"
	"log"
	"os"
	"testing"

	"github.com/spoolhq/spool/internal/leakcheck"
	"go.etcd.io/raft/v3"
)

// TestMain fails the package if a goroutine of the demo (nodes, transport,
// HTTP servers), of raft or of the journal outlives the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakcheck.Leaked("main.", "spool/journal.", "go.etcd.io/raft/v3.", "net/http.(*Server)"); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// TestDemo runs the README's demo at a smaller size.
func TestDemo(t *testing.T) {
	raft.SetLogger(&raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)})
	stdout := os.Stdout
	if !testing.Verbose() {
		devnull, _ := os.Open(os.DevNull)
		os.Stdout = devnull
		defer func() { os.Stdout = stdout; devnull.Close() }()
	}
	if err := demo(t.TempDir(), 600, false); err != nil {
		t.Fatal(err)
	}
}
