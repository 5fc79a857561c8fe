package spoolstore

import (
	"github.com/spoolhq/spool/bench/store"
	"github.com/spoolhq/spool/raftadapter/etcd"
)

// EtcdName is the column name of spool's etcd-raft storage
// (raftadapter/etcd).
const EtcdName = "spool-etcd"

// EtcdSpec returns the column for spool's etcd-raft storage, driven one
// Ready at a time (store.ReadyStore). It is not a raft.LogStore, so it runs
// only the workloads that can drive a Ready: the durable appends under CPU
// load.
func EtcdSpec() store.Spec {
	return store.Spec{
		Name:   EtcdName,
		Kind:   store.Subject,
		Module: "github.com/spoolhq/spool/raftadapter/etcd",
		Caps:   store.CapReady,
		Notes: []string{
			"spool-etcd: SaveReady of a Ready with the entries, a HardState (commit advancing) and MustSync: one journal append and one msync; runs only the loaded workloads (it is not a raft.LogStore).",
		},
		OpenReady: OpenEtcd,
	}
}

// OpenEtcd opens (or creates) spool's etcd-raft storage in dir with default
// options.
func OpenEtcd(dir string) (store.ReadyStore, error) {
	return etcd.Open(dir, nil)
}
