package store

import (
	"testing"
)

func openNothing(string) (Store, error) { return nil, nil }

func openNoReady(string) (ReadyStore, error) { return nil, nil }

func TestRegistryOrderAndLookup(t *testing.T) {
	r := NewRegistry()
	r.Register(Spec{Name: "b", Open: openNothing})
	r.Register(Spec{Name: "a", Open: openNothing, Caps: CapLogStore | CapViewRead})
	if got := r.Names(); len(got) != 2 || got[0] != "b" || got[1] != "a" {
		t.Fatalf("Names = %v, want registration order [b a]", got)
	}
	s, ok := r.Lookup("a")
	if !ok || !s.Caps.Has(CapViewRead) || s.Caps.Has(CapConcurrentAppend) {
		t.Fatalf("Lookup(a) = %+v, %v", s, ok)
	}
	if _, ok := r.Lookup("c"); ok {
		t.Fatal("Lookup of an unregistered name succeeded")
	}
}

func TestRegisterRejectsBadSpecs(t *testing.T) {
	for name, spec := range map[string]Spec{
		"no name":                 {Open: openNothing},
		"no open":                 {Name: "x"},
		"duplicate":               {Name: "dup", Open: openNothing},
		"ready without OpenReady": {Name: "r", Open: openNothing, Caps: CapReady},
		"OpenReady without ready": {Name: "r", OpenReady: openNoReady},
	} {
		t.Run(name, func(t *testing.T) {
			r := NewRegistry()
			r.Register(Spec{Name: "dup", Open: openNothing})
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%s) did not panic", name)
				}
			}()
			r.Register(spec)
		})
	}
}
