// Package tidwall registers github.com/tidwall/wal, a general-purpose
// segmented write-ahead log, as a benchmark column through a thin
// raft.LogStore adapter.
//
// The adapter encodes each raft.Log (term, type, AppendedAt, extensions and
// data; the index is the wal's own) with a small varint codec, writes a
// StoreLogs call as one wal.Batch (one fsync), serves GetLog with wal.Read
// (which copies), and maps DeleteRange of a prefix to TruncateFront and of a
// suffix to TruncateBack. The log is opened with AllowEmpty so that every
// entry can be deleted; tidwall/wal still requires a new log to start at
// index 1 and every write to follow the last index.
package tidwall
