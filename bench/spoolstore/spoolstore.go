// Package spoolstore registers spool as a benchmark column: its
// raft.LogStore adapter (raftadapter/hashicorp), with production settings
// (durable StoreLogs, 64 MiB segments).
package spoolstore

import (
	"github.com/spoolhq/spool/bench/store"
	"github.com/spoolhq/spool/raftadapter/hashicorp"
)

// Name is the column name of spool's LogStore adapter.
const Name = "spool"

// Spec returns the benchmark column for spool through raft.LogStore.
func Spec() store.Spec {
	return store.Spec{
		Name:   Name,
		Kind:   store.Subject,
		Module: "github.com/spoolhq/spool/raftadapter/hashicorp",
		Caps:   store.CapLogStore,
		Notes: []string{
			"spool: StoreLogs is one journal batch and one msync; GetLog copies Data out of the mapped page (raft keeps it).",
		},
		Open: Open,
	}
}

// Open opens (or creates) a spool store in dir with default options.
func Open(dir string) (store.Store, error) {
	return hashicorp.Open(dir, nil)
}
