package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/spoolhq/spool/internal/leakcheck"
)

// TestMain fails the package if a goroutine of raft (its TCP transport
// included) or of the journal outlives the demo.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakcheck.Leaked("spool/journal.", "hashicorp/raft."); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// TestDemo runs the README's demo at a smaller size and checks that it
// reports success.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := demo(&out, t.TempDir(), 1500, false); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if testing.Verbose() {
		t.Log("\n" + out.String())
	}
	for _, want := range []string{"killed leader", "elected leader after", "restarted node", "OK: 2250 keys, every one of the 2250 acknowledged writes"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
