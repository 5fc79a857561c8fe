// Package raftwal registers hashicorp/raft-wal, HashiCorp's segmented
// write-ahead log for hashicorp/raft, as a benchmark column.
//
// raft-wal already implements raft.LogStore, so the adapter only opens it:
// default options (64 MiB segments, the binary codec, a BoltDB meta store
// beside the segments) with logging silenced.
package raftwal
