// Package storetest checks that a benchmark column keeps the raft.LogStore
// contract the workloads rely on: store, get, first and last index,
// DeleteRange of a prefix and of a suffix, data ownership, and reopening the
// same directory. Every adapter's tests call [Run] with its spec; spool's
// columns will do the same when they are registered.
package storetest
