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
	"mmapio/crashfs":   {"mmapio"},
}

// adapterLayers lists the adapter packages with the spool packages they may
// depend on: each adapter on the core and the shared adapter plumbing,
// never on the other adapter; the wire codec on no spool package at all,
// so that a transport can use it without the storage.
var adapterLayers = map[string][]string{
	"raftadapter/etcdwire":             {},
	"raftadapter/internal/adapteropts": {"journal", "mmapio", "stream"},
	"raftadapter/etcd":                 {"raftadapter/etcdwire", "raftadapter/internal/adapteropts", "codec", "journal", "mmapio", "stream"},
	"raftadapter/hashicorp":            {"raftadapter/internal/adapteropts", "codec", "journal", "mmapio", "stream"},
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
	checkLayers(t, layers, true)
}

// TestAdapterLayering checks that the adapters depend on the core, the
// shared plumbing and the wire codec only as adapterLayers allows.
func TestAdapterLayering(t *testing.T) {
	checkLayers(t, adapterLayers, false)
}

// checkLayers fails for a missing package, a dependency outside its
// allowed list and, when noEngine is set, any Raft engine or peer store.
func checkLayers(t *testing.T, layers map[string][]string, noEngine bool) {
	t.Helper()
	for pkg, allowed := range layers {
		path := module + "/" + pkg
		out, err := exec.Command("go", "list", "-deps", path).CombinedOutput()
		if err != nil {
			t.Errorf("go list -deps %s (a core package must exist): %v\n%s", path, err, out)
			continue
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range forbidden {
				if noEngine && strings.HasPrefix(dep, f) {
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
