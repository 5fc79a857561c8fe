// Package hashicorp is spool's storage for github.com/hashicorp/raft
// (v1.8): a raft.LogStore, raft.StableStore and raft.SnapshotStore in one
// directory, a drop-in replacement for raft-boltdb or raft-wal.
//
//	store, err := hashicorp.Open(dir, nil)
//	if err != nil { ... }
//	defer store.Close() // after raft.Shutdown
//	r, err := raft.NewRaft(conf, fsm, store, store, store.Snapshots(), trans)
//
// The Store implements raft.LogStore, raft.MonotonicLogStore (IsMonotonic
// is true) and raft.CommitTrackingLogStore (for Config.RestoreCommittedLogs),
// and raft.StableStore. Store.Snapshots is a raft.SnapshotStore. Options
// are documented on Options; the zero value is the production setting.
//
// # Files
//
//	DIR/LOCK, DIR/META, DIR/*.seg   the spool journal (package journal):
//	                                the log, and in the journal's
//	                                crash-safe meta store the key "hc/v"
//	                                (this store's format version, a
//	                                uvarint: 1, or 2 once DIR/STABLE
//	                                exists) and raft's StableStore keys
//	DIR/STABLE                      every other StableStore key
//	DIR/STABLE.tmp                  a rewrite of it (removed at Open)
//	DIR/snapshots/<id>.snap         published snapshots
//	DIR/snapshots/<id>.snap.tmp     a snapshot being written (removed at Open)
//	DIR/snapshots/<id>.snap.corrupt a snapshot found corrupt, set aside
//
// # Log entry encoding, version 1
//
// The journal index is the raft index, so Index is not stored. Each raft.Log
// is one journal entry: a small header, then Extensions, then Data, which
// runs to the end of the entry (its length is the entry's length less the
// rest):
//
//	+-----------+-----------+------+-------+------------------+-----------+------------------+------------+
//	| uvarint   | uvarint   | u8   | u8    | [varint seconds, | [uvarint  | [uvarint length, | Data ...   |
//	| version=1 | Term      | Type | flags |  uvarint nanos]  |  commit]  |  Extensions]     |            |
//	+-----------+-----------+------+-------+------------------+-----------+------------------+------------+
//	                                        flags bit 0        bit 2       bit 1
//
//	flags: bit 0  AppendedAt present (not the zero time): Unix seconds and
//	              nanoseconds, so every representable time round-trips
//	       bit 1  Extensions present (non-empty)
//	       bit 2  a commit index is recorded (StageCommitIndex)
//	       other bits must be 0; an entry with a higher version or
//	       unknown flags is refused (ErrEntryFormat), never misread
//
// The header of a typical command is 14-18 bytes (AppendedAt takes 10 of
// them, a commit index 2-5). The journal frames each
// entry with its index and an xxh3 checksum (see package journal).
//
// # Writing
//
// StoreLogs streams every entry of the call through a stream.Writer
// straight into the journal's mapped pages (the header, then Extensions and
// Data copied once, from raft's slices into the mapping), as one journal
// batch (readers see all of it at once, or none), and then waits for one
// sync covering the whole batch: StoreLogs is durable when it returns. A
// crash before it returns may leave a prefix of the batch, as for any
// unacknowledged write; the log after recovery is always a contiguous
// prefix of what was written. The sync happens outside the
// Store's write lock, so a compaction from raft's snapshot goroutine is not
// held up by it. Options.NoSync skips the wait (tests and benchmarks only).
//
// The log is monotonic: entries must continue it index by index
// (ErrNonMonotonic otherwise, as raft-wal). An empty log (new, or emptied
// by DeleteRange after raft installs or restores a snapshot) accepts any
// first index and restarts there.
//
// DeleteRange accepts a prefix (compaction: journal.TruncateFront) or a
// suffix (a conflicting tail: journal.TruncateBack); both are durable when
// it returns and crash-safe (after a crash, the old log or the new one,
// never a mix; a removed tail entry never reappears, even when new entries
// line up with its bytes). Other ranges return ErrMiddleRange, as raft-wal.
//
// # Reading
//
// GetLog reads the entry under a pin of its segment, checks its checksum,
// and copies Data and Extensions into one new slice that raft owns and may
// keep (raft keeps Log.Data in its FSM pipeline and caches). It takes no
// lock, runs concurrently with StoreLogs and DeleteRange, and returns
// raft.ErrLogNotFound itself, not wrapped (raft compares with ==), for an
// index outside the log. FirstIndex and LastIndex are 0 when the log is
// empty. Open reads no entry: a restart costs the same for any log length.
//
// # Stable store
//
// A key never set reads as (nil, nil) from Get and (0, nil) from
// GetUint64, as in raft-wal; raft-boltdb returns an error reading "not
// found" instead, and raft v1.8 accepts both. SetUint64 stores 8 bytes
// little endian in the same key space as Set. Keys are 1 to
// MaxStableKeySize bytes; values up to Options.MaxStableValueSize (1 MiB by
// default); a Set is durable when it returns, and a crash before then
// leaves the old value or the new one, never a mix.
//
// raft's own keys (CurrentTerm, LastVoteTerm, LastVoteCand) live in the
// journal's meta store under the prefix "hc/s/": each Set is one meta
// write and sync (two checksummed slots), raft's hot path. Every other key
// (an application's or a tool's, as raft-boltdb keeps in its bucket) goes
// to the stable file, DIR/STABLE, as does a raft key whose value is over
// 1 KiB; the meta store's copy of a raft key wins over a file record. The
// file holds up to Options.MaxStableSize (64 MiB by default) of live keys
// and values, counted with StableRecordOverhead bytes each; past either
// bound Set returns a *StableLimitError (ErrStableValueTooLarge,
// ErrStableFull). A Set appends one record and fdatasyncs the file once
// (space is reserved ahead with fallocate, so the sync covers the size
// too). When dead records outweigh live ones (and exceed 1 MiB), the Set
// instead rewrites the file: live records and the new one packed into
// STABLE.tmp, fdatasynced, renamed over STABLE, directory fsynced. Open
// keeps an index (key to offset) in memory; Get reads the record with one
// pread, checks it, and returns a copy. A store an older version wrote
// (every key in the meta store) opens and reads as before; a new Set of
// such a key writes the file, whose record wins from then on, and removes
// the old copy. The stable file is created by the first Set that needs
// it, which first records format 2, so an older build refuses the store
// (journal.ErrVersion) instead of missing its keys.
//
// # Stable file format, version 1
//
//	0    header sector (512 bytes; 64 used): "SPOOLSKV", u16 version (1),
//	     u16 flags (0), u32 reserved, u64 file ID (random per file),
//	     u64 base count, u64 base end, 16 reserved bytes, u64 xxh3 of the
//	     first 56 bytes
//	512  base records: those the file was written with, packed (each at
//	     the previous one's end rounded up to 8 bytes), ending at base end
//	     then appended records, each at the previous one's end rounded up
//	     to 512 bytes
//
//	record: u64 header checksum, u32 magic "SKVR", u8 kind (1: set),
//	        u8 key length, u16 reserved, u32 value length, u32 reserved,
//	        u64 sequence number (1, 2, ... in file order), u64 xxh3 of the
//	        value, key, value
//
// The header checksum is xxh3, seeded with the file ID xor the record's
// offset, of the record's bytes from the magic through the key, so a
// record is valid only at its own place in its own file: stale bytes
// beyond the tail, a misdirected write or another file's record never
// pass. An appended record starts on a 512-byte boundary, so appending
// never rewrites a sector that holds acknowledged bytes (a torn sector
// write cannot damage an earlier Set). Open walks the headers (not the
// values) and checks the last record's value: a torn last record (its Set
// never returned) is dropped. A damaged base record, a damaged file header,
// or a damaged record with a valid later record anywhere beyond it (each
// record is synced before the next is written, so a later one proves the
// earlier was acknowledged) is an error wrapping journal.ErrCorrupt (a
// *journal.CorruptError with the file and offset), never dropped; a
// damaged value is reported by Get the same way. What no format without
// a separate commit record can tell is damage to the last acknowledged
// record from a torn one: it is dropped.
//
// # Commit tracking
//
// StageCommitIndex only remembers the index; the next StoreLogs records it
// in the header of every entry it writes, so it is persisted with them and
// never on its own, as raft.CommitTrackingLogStore requires: whichever
// entries of the batch survive a crash carry it, and it is lost with them.
// GetCommitIndex reads it from the last entry, capped at LastIndex.
//
// # Snapshot file format, version 1
//
// A snapshot is one file, written front to back as raft streams it (nothing
// is held in memory) and published atomically: written as <id>.snap.tmp,
// fsynced, renamed to <id>.snap, directory fsynced (mmapio.Publish),
// every step through Options.FS like the log's. The newest
// Options.SnapshotRetain snapshots are kept.
//
//	0         16                    16+D              16+D+M        +40
//	+---------+---------------------+-----------------+-------------+
//	| header  | data (D bytes)      | meta JSON       | trailer     |
//	+---------+---------------------+-----------------+-------------+
//
//	header:  "SPOOLSNP", u16 version (1), u16 flags (0), u32 reserved
//	meta:    raft.SnapshotMeta as JSON (ID, Index, Term, Configuration,
//	         ConfigurationIndex, Peers, Size = D)
//	trailer: u64 D, u64 M, u64 xxh3 of the data,
//	         u64 xxh3 of header + meta + the trailer's first 24 bytes,
//	         "SPOOLEND"
//
// List reads headers, trailers and metadata only. Open verifies the data
// checksum before it returns (one read of the file), and the reader it
// returns checks it again at the end, returning an error wrapping
// ErrSnapshotCorrupt rather than io.EOF if the file changed. A corrupt
// snapshot is renamed to <id>.snap.corrupt, so List stops offering it; raft
// tries the snapshots of List newest first until one opens, so it falls back
// to the previous one. Snapshot IDs are <term>-<index>-<unix ms>; Open
// refuses anything else, so no ID can reach outside the directory.
//
// # Migrating from raft-boltdb or raft-wal
//
// Migrate copies a stopped node's log, stable keys and newest snapshots
// from any raft.LogStore, raft.StableStore and raft.SnapshotStore into an
// empty Store. The procedure, per node, one node at a time (the cluster
// keeps its quorum):
//
//  1. Stop the node (raft.Shutdown, close its stores).
//
//  2. Open the old stores and a new Store in a new directory:
//
//     old, err := raftboltdb.NewBoltStore(filepath.Join(dataDir, "raft.db"))
//     // or: old, err := raftwal.Open(walDir)
//     fss, err := raft.NewFileSnapshotStore(dataDir, 2, os.Stderr)
//     dst, err := hashicorp.Open(newDir, nil)
//     stats, err := hashicorp.Migrate(dst, hashicorp.MigrateSource{
//     Logs: old, Stable: old, Snapshots: fss,
//     })
//
//  3. Close both; start the node on the new Store. Keep the old files until
//     the node has rejoined; if Migrate fails, delete newDir and rerun it.
//
// Application keys in the old StableStore (beyond raft's CurrentTerm,
// LastVoteTerm and LastVoteCand) must be listed in MigrateSource, since a
// StableStore cannot be enumerated. Alternatively a node can simply be
// replaced: start it on an empty Store with the same server ID and address,
// and raft sends it the leader's snapshot and log.
//
// # Proof
//
// The package's tests run the store under a real raft: a three-node
// cluster (TestCluster: over 10,000 commands, snapshots and compaction, a
// follower caught up by InstallSnapshot after a restart from disk, the
// leader killed and restarted from a crash image, every acknowledged
// command on every node), a restart on a migrated store, and raft falling
// back to an older snapshot when the newest is corrupt; contract tests
// after raft-boltdb's and raft-wal's; a SIGKILL test of every write
// operation; crash images of StableStore writes on a simulated disk
// (TestStableCrash); fuzz targets for the entry, snapshot and stable file
// decoders. A
// three-node KV store on loopback TCP: go run ./examples/hashicorp-kv.
//
// # Errors
//
// GetLog returns raft.ErrLogNotFound unwrapped. Other errors wrap this
// package's sentinels (ErrNonMonotonic, ErrMiddleRange, ErrEntryFormat,
// ErrInvalidArgument, ErrNotUint64, ErrStableValueTooLarge, ErrStableFull,
// ErrSnapshotCorrupt,
// ErrInvalidSnapshotID, ErrForeignJournal, and Migrate's ErrNotEmpty and
// ErrMigrateSource) or the journal's (journal.ErrCorrupt for damaged data,
// journal.ErrFailed after a failed sync: the Store then refuses writes and
// must be reopened, journal.ErrClosed); compare with errors.Is.
package hashicorp
