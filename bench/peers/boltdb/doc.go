// Package boltdb registers hashicorp/raft-boltdb/v2, the BoltDB-backed
// raft.LogStore that hashicorp/raft applications have used by default, as a
// benchmark column.
//
// Version: v2.3.0, the newest release that builds beside hashicorp/raft
// v1.8.0. v2 stores the log in go.etcd.io/bbolt (maintained) where v1 uses
// the archived github.com/boltdb/bolt. v2.3.1 only moves its metrics import to
// github.com/hashicorp/go-metrics/compat, a package that go-metrics v0.7.0
// (required by raft v1.8.0) no longer ships, so v2.3.1 does not compile
// against raft v1.8.0; the store code is otherwise the same.
package boltdb
