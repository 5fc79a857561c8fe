package store

import (
	"io"

	"github.com/hashicorp/raft"
	etcdraft "go.etcd.io/raft/v3"
)

// Store is an open log store: a raft.LogStore that can be closed. Closing
// releases every file and lock, so that the same directory can be opened
// again (the reopen workloads do exactly that).
type Store interface {
	raft.LogStore
	io.Closer
}

// Kind says how a column takes part in the comparison.
type Kind string

const (
	// Peer is a store spool is compared against; the best peer of each
	// figure is the reference for the "× best peer" ratio.
	Peer Kind = "peer"
	// Subject is spool itself (its raft.LogStore adapter and its native
	// API); the targets are evaluated on subject columns.
	Subject Kind = "subject"
	// Variant is reported beside the others but is neither a peer nor a
	// subject, for example a non-durable page-cache mode.
	Variant Kind = "variant"
)

// Caps is a set of capabilities a spec declares, so that the driver can plan
// which workloads run on it without opening it.
type Caps uint

const (
	// CapLogStore: the store runs the raft.LogStore workloads.
	CapLogStore Caps = 1 << iota
	// CapConcurrentAppend: the opened store implements ConcurrentAppender.
	CapConcurrentAppend
	// CapViewRead: the opened store implements ViewReader.
	CapViewRead
	// CapReady: the spec opens a ReadyStore (Spec.OpenReady), an etcd-raft
	// storage persisted one Ready at a time. Such a column runs only the
	// workloads that can drive a Ready instead of StoreLogs.
	CapReady
)

// Has reports whether c includes every capability in want.
func (c Caps) Has(want Caps) bool { return c&want == want }

// Spec describes one column of the comparison.
type Spec struct {
	// Name is the column name, unique in a registry ("raft-wal").
	Name string
	// Kind says whether the column is a peer, the subject or a variant.
	Kind Kind
	// Module is the Go module path the store comes from; its version is
	// read from the binary's build information when the report is written.
	Module string
	// Caps lists the capabilities of the opened store.
	Caps Caps
	// Notes are caveats printed under the results (how the adapter maps the
	// LogStore contract onto the store, what it cannot do).
	Notes []string
	// Open creates the store in dir when dir holds none, and reopens it
	// otherwise. dir exists and belongs to the store alone. Nil for a
	// column that is only a ReadyStore (CapReady without CapLogStore).
	Open func(dir string) (Store, error)
	// OpenReady opens the column as a ReadyStore, like Open; set exactly
	// when Caps has CapReady.
	OpenReady func(dir string) (ReadyStore, error)
}

// ConcurrentAppender is the native append path of a store that commits
// concurrent appends together (group commit).
type ConcurrentAppender interface {
	// AppendDurable appends data as the next entry and returns its index
	// once the entry is durable. It is safe for concurrent use; concurrent
	// callers may share one sync.
	AppendDurable(data []byte) (uint64, error)
}

// ViewReader is the native zero-copy read path of a store.
type ViewReader interface {
	// View calls fn with the bytes of the entry at index where they lie
	// (no copy). p is valid only during the call; fn must not retain it.
	View(index uint64, fn func(p []byte) error) error
}

// ReadyStore is an etcd-raft log storage driven the way an etcd-raft
// application drives its storage: each Ready's HardState and entries are
// persisted in one call before the Ready's messages are sent. It lets a
// column that is not a raft.LogStore (spool's etcd adapter) run the
// workloads whose unit of work is one durable batch.
type ReadyStore interface {
	// SaveReady persists rd.HardState and rd.Entries, and syncs them when
	// rd.MustSync, before it returns.
	SaveReady(rd etcdraft.Ready) error
	io.Closer
}
