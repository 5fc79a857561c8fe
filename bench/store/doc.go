// Package store defines how a log store plugs into the benchmark.
//
// Every column of the comparison is a [Spec]: a name, a kind (peer, the
// subject under test, or a variant reported beside them), the capabilities
// it offers and a function that opens it in a directory. An opened store is a
// [Store]: a hashicorp/raft [raft.LogStore] that can be closed. Native
// capabilities beyond the LogStore contract (group-committed concurrent
// appends, zero-copy reads) are the optional interfaces [ConcurrentAppender]
// and [ViewReader]; workloads that need them run only on specs that declare
// them in [Spec.Caps].
//
// A [Registry] holds the specs one run compares, in column order.
package store
