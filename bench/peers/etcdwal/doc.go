// Package etcdwal registers etcd's write-ahead log
// (go.etcd.io/etcd/server/v3/storage/wal) with reads served from
// go.etcd.io/raft/v3's MemoryStorage, the way etcd-raft applications store
// and read their log, as a benchmark column through a raft.LogStore adapter.
//
// Mapping of the LogStore contract:
//
//   - StoreLogs converts the entries to raftpb.Entry (copying their data, as
//     each proposal owns its buffer in an etcd-raft application), saves them
//     with wal.Save together with a HardState (term, vote, a commit index
//     that lags one batch, as a leader's does), which fdatasyncs, and appends
//     them to the MemoryStorage.
//   - GetLog, FirstIndex and LastIndex read the MemoryStorage; GetLog hands
//     out the stored entry's Data without copying (raftpb entries are
//     immutable once stored, and etcd-raft retains them the same way).
//   - DeleteRange of a prefix is what an etcd-raft application does after a
//     snapshot: MemoryStorage.Compact, a snapshot record in the wal
//     (wal.SaveSnapshot), a marker file that stands in for the snap
//     directory, wal.ReleaseLockTo, then removal of every wal file the wal
//     no longer locks (what etcd's file purger does; etcd itself keeps
//     --max-wals files, 5 by default). The wal has no prefix delete of its
//     own: space comes back only in whole 64 MB files.
//   - DeleteRange of a suffix rebuilds the MemoryStorage without the tail;
//     the wal keeps the old tail until the next StoreLogs overwrites it
//     (etcd-raft never deletes a suffix without replacing it), so a reopen
//     in between would bring it back.
//   - Reopen is wal.Open at the last compaction point and wal.ReadAll
//     replayed into a fresh MemoryStorage: the whole log is read and held in
//     memory.
//
// raft.Log fields that raftpb.Entry has no room for are not kept: Extensions,
// AppendedAt, and log types other than command (EntryNormal) and
// configuration (EntryConfChange).
package etcdwal
