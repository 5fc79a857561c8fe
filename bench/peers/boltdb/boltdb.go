package boltdb

import (
	"path/filepath"

	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/spoolhq/spool/bench/store"
)

// Name is the column name of raft-boltdb.
const Name = "raft-boltdb"

// Spec returns the benchmark column for raft-boltdb/v2.
func Spec() store.Spec {
	return store.Spec{
		Name:   Name,
		Kind:   store.Peer,
		Module: "github.com/hashicorp/raft-boltdb/v2",
		Caps:   store.CapLogStore,
		Notes: []string{
			"raft-boltdb: entries are msgpack-encoded into a bbolt B+tree; each StoreLogs is one write transaction (two fdatasyncs: data, then meta page).",
			"raft-boltdb: DeleteRange frees pages inside the file but never shrinks it, so no disk space is reclaimed until a compaction (not part of the LogStore API).",
		},
		Open: Open,
	}
}

// Open opens (or creates) dir/raft.db with default options (durable).
func Open(dir string) (store.Store, error) {
	return raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
}
