package catalog

import (
	"testing"

	"github.com/spoolhq/spool/bench/store"
)

func TestDefaultHasEveryPeer(t *testing.T) {
	r := Default()
	for _, name := range []string{"raft-wal", "raft-boltdb", "tidwall/wal", "etcd-wal"} {
		s, ok := r.Lookup(name)
		if !ok {
			t.Fatalf("peer %q not registered", name)
		}
		if s.Kind != store.Peer || !s.Caps.Has(store.CapLogStore) || s.Module == "" {
			t.Errorf("peer %q: kind %q caps %b module %q", name, s.Kind, s.Caps, s.Module)
		}
	}
	for _, s := range r.Specs() {
		if s.Kind == store.Subject && s.Name != Spool && s.Name != SpoolNative && s.Name != SpoolEtcd {
			t.Errorf("subject column %q is not one of the spool names the targets use", s.Name)
		}
	}
}
