package catalog

import (
	"github.com/spoolhq/spool/bench/peers/boltdb"
	"github.com/spoolhq/spool/bench/peers/etcdwal"
	"github.com/spoolhq/spool/bench/peers/raftwal"
	"github.com/spoolhq/spool/bench/peers/tidwall"
	"github.com/spoolhq/spool/bench/store"
)

// Spool column names. The report's targets are evaluated on these columns;
// until they are registered it says "spool: not yet registered".
const (
	// Spool is spool's raft.LogStore adapter (raftadapter/hashicorp).
	Spool = "spool"
	// SpoolNative is spool's native journal API: zero-copy reads
	// (store.ViewReader) and group-committed appends
	// (store.ConcurrentAppender).
	SpoolNative = "spool-native"
)

// Default returns the registry of every column, in column order.
func Default() *store.Registry {
	r := store.NewRegistry()

	// TODO(spool): register spool's columns here, one line each, once
	// raftadapter/hashicorp exists. Each is a store.Spec with Kind
	// store.Subject, in a package under bench/ (say bench/spoolstore) that
	// imports github.com/spoolhq/spool (replaced by ../ in go.mod):
	//
	//	r.Register(spoolstore.Spec())       // Name: catalog.Spool, Caps: store.CapLogStore
	//	r.Register(spoolstore.NativeSpec()) // Name: catalog.SpoolNative, Caps: store.CapLogStore |
	//	                                    //   store.CapConcurrentAppend | store.CapViewRead
	//
	// A page-cache (non-durable) mode can be added the same way with Kind
	// store.Variant: reported beside the others, never a peer or a target.
	// The contract tests come for free: storetest.Run(t, spoolstore.Spec()).

	r.Register(raftwal.Spec())
	r.Register(boltdb.Spec())
	r.Register(tidwall.Spec())
	r.Register(etcdwal.Spec())
	return r
}
