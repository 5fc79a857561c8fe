package raftwal

import (
	"errors"

	"github.com/hashicorp/go-hclog"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"

	"github.com/spoolhq/spool/bench/store"
)

// Name is the column name of raft-wal.
const Name = "raft-wal"

// Spec returns the benchmark column for raft-wal.
func Spec() store.Spec {
	return store.Spec{
		Name:   Name,
		Kind:   store.Peer,
		Module: "github.com/hashicorp/raft-wal",
		Caps:   store.CapLogStore,
		Notes: []string{
			"raft-wal: StoreLogs is serialized by its own writer lock; concurrent producers are batched by the caller (as raft's leader loop does).",
			"raft-wal: DeleteRange of a prefix drops whole sealed segments (64 MiB); space in the segment holding the new first index stays until that segment goes.",
			"raft-wal: WAL.Close (v0.4.0) does not close its BoltDB meta store, so the adapter passes its own and closes it after the WAL.",
		},
		Open: Open,
	}
}

// WAL is a raft-wal log that also closes its meta store on Close.
type WAL struct {
	*wal.WAL
	meta *metadb.BoltMetaDB
}

// Open opens (or creates) a raft-wal log in dir with default options.
func Open(dir string) (store.Store, error) {
	meta := &metadb.BoltMetaDB{}
	w, err := wal.Open(dir, wal.WithLogger(hclog.NewNullLogger()), wal.WithMetaStore(meta))
	if err != nil {
		meta.Close()
		return nil, err
	}
	return &WAL{WAL: w, meta: meta}, nil
}

// Close closes the log and then its meta store.
func (w *WAL) Close() error {
	return errors.Join(w.WAL.Close(), w.meta.Close())
}
