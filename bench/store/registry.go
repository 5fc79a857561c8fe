package store

import (
	"fmt"
	"slices"
)

// Registry holds the specs a run compares, in registration order, which is
// the column order of every table and chart.
type Registry struct {
	specs []Spec
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Register adds s. It panics when s has no name, neither Open nor
// OpenReady, CapReady without OpenReady (or the reverse), or a name already
// registered: registration happens at start-up from code, so these
// are programming errors.
func (r *Registry) Register(s Spec) {
	switch {
	case s.Name == "":
		panic("store: Register: spec without a name")
	case s.Open == nil && s.OpenReady == nil:
		panic(fmt.Sprintf("store: Register %q: spec without Open", s.Name))
	case s.Caps.Has(CapReady) != (s.OpenReady != nil):
		panic(fmt.Sprintf("store: Register %q: CapReady and OpenReady disagree", s.Name))
	}
	if _, dup := r.Lookup(s.Name); dup {
		panic(fmt.Sprintf("store: Register %q: name already registered", s.Name))
	}
	r.specs = append(r.specs, s)
}

// Lookup returns the spec registered under name.
func (r *Registry) Lookup(name string) (Spec, bool) {
	i := slices.IndexFunc(r.specs, func(s Spec) bool { return s.Name == name })
	if i < 0 {
		return Spec{}, false
	}
	return r.specs[i], true
}

// Specs returns the registered specs in column order.
func (r *Registry) Specs() []Spec { return slices.Clone(r.specs) }

// Names returns the registered names in column order.
func (r *Registry) Names() []string {
	names := make([]string, len(r.specs))
	for i, s := range r.specs {
		names[i] = s.Name
	}
	return names
}
