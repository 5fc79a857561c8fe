// Package etcd is spool's storage for go.etcd.io/raft/v3 (v3.7, pointer
// protobuf types): a raft.Storage served from a memory-mapped spool journal,
// which replaces both etcd's WAL and raft.MemoryStorage.
//
// MemoryStorage keeps every entry since the last compaction on the Go heap,
// and a restart replays the whole WAL into it. Storage keeps the entries in
// the journal's mapped segments and reads them from there on demand, so its
// memory does not grow with the log, and Open reads no entry (a directory
// listing, the meta file and the last segment after a clean shutdown). A Ready
// is persisted with one call, SaveReady, and one journal sync when raft
// asks for one. Entries can be handed out zero-copy (their Data pointing
// into the mapped pages) and written to the network with a vectored write
// straight from those pages.
//
// # Files
//
//	DIR/LOCK, DIR/META, DIR/*.seg   the journal (package journal): entries,
//	                                and the meta store holding the records below
//	DIR/SNAP-<index>-<term>         snapshot data, when the Storage keeps it
//
// # Entry encoding
//
// Journal index = raft index, so the index is not stored. Each journal entry
// holds a small versioned header and then Data, so that Data is one
// contiguous run of mapped bytes (the entry's payload minus its header)
// whenever the entry lies in one segment:
//
//	+-----------------+--------------+-------+----------------------------------+
//	| uvarint version | uvarint term | flags | Data (the rest of the payload)   |
//	|      (= 1)      |              | byte  |                                  |
//	+-----------------+--------------+-------+----------------------------------+
//
//	flags: bits 0-4  EntryType (0..31)
//	       bit 5     Type field set      (proto2 presence: nil Type is not 0)
//	       bit 6     Data field set      (distinguishes empty Data from nil)
//	       bit 7     Term field set
//
// Presence is kept so that an entry read back is proto.Equal to the entry
// appended and proto.Size, which raft's maxSize arguments count, is the
// same. Unknown protobuf fields of an entry are not stored.
//
// # Meta records
//
// The journal's crash-safe meta store holds three records (version 1;
// uv = uvarint, u64 = 8 bytes little-endian):
//
//	etcd/hs    HardState        | uv version (=1) | uv term | uv vote | uv commit |
//	etcd/base  compaction point | uv version (=1) | uv index | uv term | kind byte |
//	           kind: 1 compaction (entries from index+1 kept), 2 reset (a snapshot replaced the log)
//	etcd/snap  snapshot         | uv version (=1) | uv index | uv term | uv data len | u64 xxh3 of data |
//	                            | ConfState in protobuf encoding (the rest of the record)            |
//	etcd/first first Save       | uv version (=1) |
//	           in progress      (present from before a new Storage's first Save with entries and a
//	                            HardState appends them until its HardState is recorded; see Open)
//
// A record of another version is refused with journal.ErrVersion, a
// truncated or malformed one with journal.ErrCorrupt. Term(FirstIndex()-1)
// is answered from the compaction point. Compact and ApplySnapshot write
// their record first and change the journal second; Open completes a
// change a crash interrupted. A snapshot record is written only once the
// entries up to its index are durable.
//
// # Snapshot files
//
// Snapshot data does not fit the meta store (about 3.9 KiB): Storage writes
// it to a file of its own, to a temporary name, synced, renamed and the
// directory synced before the record that names it:
//
//	DIR/SNAP-<index, 16 hex digits>-<term, 16 hex digits>
//
//	0        8             12         16      24     32         40          48          56
//	+--------+-------------+----------+-------+------+----------+-----------+-----------+------+
//	|SPOOLSNP| u32 version | reserved | index | term | data len | xxh3 of   | xxh3 of   | data |
//	| magic  |    (=1)     |          |  u64  | u64  |   u64    | data, u64 | [0,48) u64|      |
//	+--------+-------------+----------+-------+------+----------+-----------+-----------+------+
//
// Snapshot reads the data back on demand and checks the file's size,
// header and checksums against the record before returning it (a mismatch
// is journal.ErrCorrupt). Open removes files the record does not name. An
// application that persists its state machine itself sets
// Options.SnapshotData and the Storage stores no data.
//
// # Durability
//
// SaveReady(rd) installs rd.Snapshot, appends rd.Entries (replacing a
// conflicting suffix; entries equal in index and term are not rewritten),
// syncs the journal once if rd.MustSync, then records rd.HardState: durably
// (a meta sync) when its term or vote changed; when only the commit index
// did, in memory until Sync, Close or the next meta write (a term or vote
// change, a snapshot, a compaction). Raft needs only term, vote and entries
// durable before messages go out (a commit-only Ready asks for no sync),
// and recording every commit index would cost a second sync per Ready.
//
// The commit index is kept as raft gives it, held only within
// [FirstIndex()-1, LastIndex()] (raft never gives one outside, and
// InitialState returns it as MemoryStorage does). Installing a snapshot
// raises it to the snapshot's index and never lowers a higher one (a
// Ready's, whose entries follow the snapshot). Sync makes everything
// written so far durable: the entries, then the commit index when it
// changed since it was last recorded (one meta sync).
//
// What a crash leaves, a process's (SIGKILL) or the machine's: every entry
// made durable (SaveReady with MustSync, Sync, Close), possibly a prefix of
// the entries appended since; the HardState last recorded. A recorded
// commit index may lie past the durable entries (a new term recorded while
// entries appended without a sync were not yet durable; a snapshot's Ready
// records its commit index before its entries); Open holds it to the log
// the crash left, min(recorded, LastIndex()) and at least FirstIndex()-1,
// so raft always accepts it: the entries up to there are the ones raft
// committed, since raft never rewrites a committed entry. After any crash
// that follows a Sync, the commit index is therefore at least the one
// given before the Sync; a commit-only change not yet recorded by a Sync
// or a meta write is lost (raft restarts from the older one and learns the
// rest from the leader).
//
// In the steady state (entries, a new commit index) a Ready therefore costs
// one sync, the journal's. A Ready that carries entries and also changes
// the term or vote (after an election) costs two, the journal's and the
// meta file's; one that installs a snapshot adds the snapshot file's and
// the directory's. A new Storage's first Ready with entries (a bootstrap)
// adds one meta sync for its etcd/first record.
//
// With Config.AsyncStorageWrites, the local append thread passes each
// MsgStorageAppend to HandleStorageAppend and then delivers the responses it
// returns; the entries are readable through the Storage before that.
//
// # Zero-copy entries
//
// Raft keeps the entries Storage.Entries returns (in MsgApp messages, in
// Ready.CommittedEntries, in its own bookkeeping) and has no hook to say it
// is done with them. So by default Entries returns heap copies the caller
// owns: safe whatever raft or the application does with them.
//
// With Options.ZeroCopy, Entries returns entries whose Data points into the
// journal's mapped pages. Each such entry pins its segment, so the pages
// stay mapped, unchanged, even if the log is compacted, truncated or reset
// under it, until the entry is released:
//
//   - An etcdwire.Writer made with the Storage (etcdwire.NewWriter(conn,
//     st)) releases the entries of the messages it writes when the write
//     returns. Messages dropped instead of sent are released with
//     Storage.ReleaseMessage.
//   - Committed entries are released with Storage.Release once applied.
//   - Entries raft reads for itself and drops (it scans for pending
//     configuration changes, for example) are released by the garbage
//     collector once unreachable (runtime.AddCleanup on the entries of the
//     call); PinStats counts those.
//
// The rules for the application in zero-copy mode: do not keep Data of a
// released entry, or of an entry you drop (copy what the state machine
// keeps, as string(e.Data) or bytes.Clone does); never write to Data (it is
// the log). Entries that span two segments are copied. EntriesPinned gives
// the same zero-copy entries with an explicit *Pins released by the caller,
// for code that reads the log outside raft.
//
// # Network
//
// The message stream is package etcdwire (the codec needs no storage, so a
// transport can use it alone); this package's Storage plugs into it.
// etcdwire.NewWriter(conn, st) returns a writer of raftpb.Messages as
// length-prefixed frames whose bytes are exactly proto.Marshal's: the
// framing is encoded into a reused buffer and entry and snapshot payloads
// go to the kernel by reference, in one vectored write per call (a writev
// per 1024 pieces), so the payloads of zero-copy entries leave straight
// from the journal's mapped pages, and the writer releases their pins
// (Storage.ReleaseMessage) when the write returns. An etcdwire.Reader (or
// etcdwire.Unmarshal) decodes frames for Node.Step with Data aliasing the
// frame's buffer, in a constant number of allocations whatever the number
// of entries. On the receiving side each payload byte is copied in user
// space once: SaveReady writes it from the frame's buffer straight into
// the follower's mapped segment, with no intermediate buffer. The frame
// itself is read from the connection into its buffer (for frames larger
// than the reader's 16 KiB read-ahead, all but at most 16 KiB of it in
// place; a frame over 4 MiB, such as a MsgSnap with its data, goes into a
// buffer that grows as bytes arrive, so that a peer's length commits no
// memory the stream does not back, at the cost of one more copy as it
// grows). Reading a frame straight into the journal is not possible: raft
// must step the message, and may reject its entries, before they are
// appended. The names this package had for them (MessageWriter,
// MessageReader, MarshalMessage, UnmarshalMessage, MessageSize,
// ErrMessageFormat) remain as deprecated aliases of etcdwire's.
//
// A receiving loop that steps messages one after another must give a
// forwarded MsgProp a deadline: Node.Step blocks on a proposal until the
// node knows a leader, and the messages queued behind it may be the very
// ones that would tell it (examples/etcd-kv does this).
//
// # Porting an etcd-raft application
//
// The changes to a raftexample-style application are mechanical. Opening:
//
//	// before: wal.Open + ReadAll, snapshotter.Load, then
//	//   storage := raft.NewMemoryStorage()
//	//   storage.ApplySnapshot(snap); storage.SetHardState(st); storage.Append(ents)
//	st, err := etcd.Open(dir, nil) // no replay
//	snap, err := st.Snapshot()     // restore the state machine from snap.Data
//	c := &raft.Config{ID: id, Storage: st, Applied: snap.GetMetadata().GetIndex(), ...}
//	if st.Empty() {
//		n = raft.StartNode(c, peers)
//	} else {
//		n = raft.RestartNode(c)
//	}
//
// An application that persists its applied index, to pass it as
// Config.Applied instead of the snapshot's index, calls st.Sync() before it
// persists one (once per batch its state machine persists: Sync costs a
// meta sync only when the commit index moved): raft panics at restart if
// Applied is past the recorded commit index, and a commit-only change is
// recorded only by Sync, Close and the next meta write. It keeps the
// ConfState at that index too (with CreateSnapshot, for example), since
// raft does not hand out the entries at or below Applied again.
//
// Entries written with Append, with or without a HardState (MemoryStorage
// style: Append then SetHardState), are kept across a reopen once durable
// (after Sync). Only the entries of a first SaveReady a crash cut short
// before its HardState was recorded are discarded by Open, so that the
// node bootstraps again.
//
// The Ready loop:
//
//	case rd := <-n.Ready():
//		// before: snapshotter.SaveSnap(rd.Snapshot); wal.Save(rd.HardState, rd.Entries)
//		//         storage.ApplySnapshot(rd.Snapshot); storage.Append(rd.Entries)
//		if err := st.SaveReady(rd); err != nil { ... }
//		if !raft.IsEmptySnap(rd.Snapshot) { publishSnapshot(rd.Snapshot) }
//		transport.Send(rd.Messages)
//		publishEntries(rd.CommittedEntries)
//		st.Release(rd.CommittedEntries) // zero-copy mode only; harmless otherwise
//		n.Advance()
//
// Snapshots and compaction keep their MemoryStorage calls:
// st.CreateSnapshot(applied, &confState, data) and st.Compact(index), with
// the same arguments, results and sentinel errors (ErrCompacted,
// ErrSnapOutOfDate); where MemoryStorage panics on an index past the log,
// Storage returns an error. Remove the WAL, the snapshotter and the replay
// code; close the Storage (after Node.Stop) instead of the WAL.
//
// With Config.AsyncStorageWrites the Ready loop hands the messages to
// raft.LocalAppendThread to the append goroutine, which calls
// resps, err := st.HandleStorageAppend(m) and then delivers resps (to the
// node's Step, or to peers); the apply goroutine applies the entries of
// the messages to raft.LocalApplyThread, releases them (st.Release) and
// delivers their Responses. Node.Advance is not called in that mode.
//
// For zero-copy sending, set Options.ZeroCopy, give each peer connection an
// etcdwire.Writer (etcdwire.NewWriter(conn, st)), release dropped messages
// with ReleaseMessage, and read peers' connections with an etcdwire.Reader.
//
// # Errors
//
// Storage methods return raft.ErrCompacted, raft.ErrUnavailable,
// raft.ErrSnapOutOfDate and raft.ErrSnapshotTemporarilyUnavailable
// unwrapped, since raft compares them with ==. Raft panics on any other
// error from a raft.Storage method (MemoryStorage has none): here they come
// only from damage (a stored entry or snapshot file that does not verify)
// or a failed disk, which a node cannot work around. Other errors wrap the
// journal's sentinels: journal.ErrCorrupt for a stored entry, meta record
// or snapshot file that does not decode or verify, journal.ErrVersion for
// one written by a newer format, journal.ErrFailed, journal.ErrClosed and
// the others for the journal's own conditions. etcdwire.Reader and
// etcdwire.Unmarshal wrap etcdwire.ErrFormat (ErrMessageFormat here) for a
// malformed frame, and the Reader refuses a frame longer than its MaxSize
// before allocating it.
package etcd
