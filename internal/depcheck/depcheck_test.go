package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoreImportsNoEngine lists the dependencies of the core packages and
// fails if a Raft engine, a peer store or an adapter is among them.
func TestCoreImportsNoEngine(t *testing.T) {
	core := []string{
		"github.com/spoolhq/spool/mmapio",
		"github.com/spoolhq/spool/stream",
		"github.com/spoolhq/spool/journal",
		"github.com/spoolhq/spool/codec",
	}
	forbidden := []string{
		"github.com/hashicorp/raft", "go.etcd.io/raft", "go.etcd.io/etcd",
		"github.com/tidwall/wal", "go.etcd.io/bbolt", "github.com/boltdb",
		"github.com/spoolhq/spool/raftadapter", "github.com/spoolhq/spool/bench",
	}
	for _, pkg := range core {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "is not in std") || strings.Contains(string(out), "cannot find") || strings.Contains(string(out), "no required module") || strings.Contains(string(out), "matched no packages") {
				continue // a core package not written yet
			}
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}
