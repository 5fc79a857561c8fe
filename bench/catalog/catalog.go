package catalog

import (
	"github.com/spoolhq/spool/bench/peers/boltdb"
	"github.com/spoolhq/spool/bench/peers/etcdwal"
	"github.com/spoolhq/spool/bench/peers/raftwal"
	"github.com/spoolhq/spool/bench/peers/tidwall"
	"github.com/spoolhq/spool/bench/spoolstore"
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
	// SpoolEtcd is spool's etcd-raft storage (raftadapter/etcd), driven
	// one Ready at a time; it runs only the workloads that take a Ready.
	SpoolEtcd = "spool-etcd"
)

// Default returns the registry of every column, in column order.
func Default() *store.Registry {
	r := store.NewRegistry()

	// spool's LogStore adapter, then its native journal API (zero-copy
	// reads, group-committed appends), then its etcd-raft storage.
	r.Register(spoolstore.Spec())
	r.Register(spoolstore.NativeSpec())
	r.Register(spoolstore.EtcdSpec())
	r.Register(raftwal.Spec())
	r.Register(boltdb.Spec())
	r.Register(tidwall.Spec())
	r.Register(etcdwal.Spec())
	return r
}
