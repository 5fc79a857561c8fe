package depcheck

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/spoolhq/spool"

// layers lists every core package with the spool packages it may depend
// on (directly or not). Imports point one way: stream and mmapio at the
// bottom, the journal on them, codecs on the journal; nothing in the core
// reaches an adapter, the bench module or a test-only package.
var layers = map[string][]string{
	"stream":           {},
	"mmapio":           {},
	"journal":          {"mmapio", "stream"},
	"codec":            {"journal", "mmapio", "stream"},
	"codec/protocodec": {"codec", "codec/internal/kvpb", "journal", "mmapio", "stream"},
	"internal/crashfs": {"mmapio"},
}

// forbidden are packages no core package may depend on: Raft engines and
// peer stores.
var forbidden = []string{
	"github.com/hashicorp/raft", "go.etcd.io/raft", "go.etcd.io/etcd",
	"github.com/tidwall/wal", "go.etcd.io/bbolt", "github.com/boltdb",
}

// TestCoreLayering lists the dependencies of every core package and fails
// if a core package is missing, if it depends on a Raft engine or a peer
// store, or if it depends on a spool package above it in the layering.
func TestCoreLayering(t *testing.T) {
	for pkg, allowed := range layers {
		path := module + "/" + pkg
		out, err := exec.Command("go", "list", "-deps", path).CombinedOutput()
		if err != nil {
			t.Errorf("go list -deps %s (a core package must exist): %v\n%s", path, err, out)
			continue
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if strings.HasPrefix(dep, f) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
			rel, ok := strings.CutPrefix(dep, module+"/")
			if !ok || rel == pkg {
				continue
			}
			if !slices.Contains(allowed, rel) {
				t.Errorf("%s depends on %s, outside its layer (allowed: %v)", pkg, rel, allowed)
			}
		}
	}
}
