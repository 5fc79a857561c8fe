package etcd

import (
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/spoolhq/spool/internal/leakcheck"
	"go.etcd.io/raft/v3"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// TestMain fails the package if a goroutine of the journal, of raft or of
// this package outlives the tests: every node must be stopped and every
// Storage closed.
func TestMain(m *testing.M) {
	if kind := os.Getenv("SPOOL_ETCD_MEMCHILD"); kind != "" {
		// A child process of BenchmarkRetainedMemory.
		if err := memChild(kind, benchEntries(), os.Getenv("SPOOL_ETCD_MEMCHILD_DIR")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv("SPOOL_RAFT_LOG") == "" {
		raft.SetLogger(&raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)})
	}
	code := m.Run()
	if startupDir.dir != "" {
		_ = os.RemoveAll(startupDir.dir)
	}
	if code == 0 {
		if leaked := leakcheck.Leaked("spool/journal.", "go.etcd.io/raft/v3.", "raftadapter/etcd."); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}
