// Package journal is spool's segmented, memory-mapped, append-only log.
//
// Entries have contiguous uint64 indexes. A payload is streamed through a
// stream.Writer straight into the mapped pages of the active segment; a
// read pins the segment and hands out the payload's bytes where they lie,
// each block after checking its checksum, so a read costs what it reads. Nothing holds a copy of the log in memory:
// memory use is bounded by configuration, not by log length.
//
// # Files
//
//	DIR/LOCK        advisory lock held while open
//	DIR/META        two checksummed slots (journal state, caller keys)
//	DIR/<id>-<first>.seg
//	                segments, named by their 64-bit ID and the index of the
//	                first entry that starts in them, both in 16 hex digits
//	DIR/*.seg.tmp   a segment file being prepared: the next segment under a
//	                temporary name until a roll writes and syncs its header
//	                and renames it (a spare, made in the background once the
//	                active segment is half full, or a segment a cut at the
//	                back removed, kept for reuse), or one whose creation a
//	                crash interrupted. It holds no entry of the journal
//	                (reused files keep old chunks, which fail their checks
//	                under the new segment's salt); Open removes it.
//
// # Segment format, version 3
//
// A segment is a preallocated file (64 MiB by default), mapped whole. Chunks
// grow up from offset 4096; the slots of the entries that start in the
// segment grow down from the trailer; the trailer is written when the
// segment is sealed. The header is written once, when the segment is
// created; the checkpoint, rewritten by sync rounds, has a sector of its own
// so that a torn rewrite can damage nothing else.
//
//	0         64       512        544                4096
//	+---------+--------+----------+-----------------+---------+---------+-----+---------+-----------+----------+---------+
//	| header  | zero   | checkpt  | zero            | chunk 0 | chunk 1 | ... |  free   | slot n-1..| slot 0   | trailer |
//	+---------+--------+----------+-----------------+---------+---------+-----+---------+-----------+----------+---------+
//	                                                                                                          size-64   size
//
// Version 2 differs only in its chunks: none carries block sums (below).
// Version 1 also keeps the checkpoint at offset 64, in the header's
// sector. Open reads all three; new segments are written in version 3, and
// a segment of an older version that Open continues to append to keeps its
// version and its chunk form.
//
// Header (64 bytes): magic "SPOOLSEG", u16 version, u16 flags (bit 0: the
// segment opens with the continuation of entry base), u32 reserved, u64
// journal ID, u64 segment ID, u64 base index, u64 file size, u64 creation
// time, u64 xxh3 of the preceding 56 bytes.
//
// Checkpoint (32 bytes): u64 data end, u32 entry count, u32 reserved, u64
// last index, u64 xxh3 of the preceding 24 bytes XOR the segment's salt. It
// names a prefix of the segment that an earlier sync made durable; a chunk
// that fails verification below it is reported as corruption, not trimmed
// as a torn tail.
//
// Chunk (32-byte header, payload, padding to 8 bytes):
//
//	0            8        12     13      14     16           24           32
//	+------------+--------+------+-------+------+------------+------------+----------------+
//	| check      | length | kind | flags | 0    | index      | sum        | payload ...    |
//	+------------+--------+------+-------+------+------------+------------+----------------+
//
// sum is xxh3 of the payload; check is xxh3 of header bytes 8..32 XOR the
// segment's salt, itself a hash of the journal ID and the segment ID.
//
// In version 3 a chunk of more than 16 KiB (a block) of payload has flags
// bit 0 set and one u64 xxh3 per block of 16 KiB (the last one shorter)
// after its padded payload; sum is then the xxh3 of that array of
// ceil(length/16 KiB) sums, whose size follows from length:
//
//	0        32                      32+length  alignUp          +8*ceil(length/16 KiB)
//	+--------+---------+-----+-------+---------+-----------------+
//	| header | block 0 | ... | block | padding | sum 0 ... sum n |
//	+--------+---------+-----+-------+---------+-----------------+
//
// A reader verifies the array against sum and each block against its sum
// when it first reaches that block, and never hands out a byte it has not
// verified: reading an entry's first bytes verifies and faults in one
// block, not the entry, and its size and index come from the header alone.
// Copies, View.Bytes, recovery scans and Verify verify every block.
//
// The portable part (length through the block sums) names the entry's
// index and carries its checksums wherever it is copied; the salt is the
// only local identity, and removing one salt and applying another re-homes
// a chunk.
// A chunk whose check does not match was not written by this segment's
// current incarnation: a stale frame from truncated, recycled or another
// journal's space is never accepted (docs/design.md, invariant 3).
//
// An entry that fits in its segment is one chunk of kind full (1). One that
// does not is a first chunk (2) filling its segment, a middle chunk (3)
// filling each further segment, and a last chunk (4), each with block sums
// of its own when it is larger than a block. A chunk fills its segment
// when its payload is the largest whose padding and block sums still fit.
// The writer never needs to know the size in advance (it keeps the sums of
// the current chunk's blocks, 8 bytes per 16 KiB, until it frames it) and
// nothing holds the whole entry.
//
// Slot i (u32) holds the offset of the first chunk of entry first+i, so a
// lookup is a binary search over segments and one load.
//
// Trailer (64 bytes): magic "SPOOLEND", u64 journal ID, u64 segment ID, u64
// index of the first entry starting in the segment, u32 count of entries
// starting in it, u32 flags (bit 0: its last entry continues in the next
// segment), u64 end of data, u64 reserved, u64 xxh3 of the preceding 56
// bytes.
//
// # Recovery
//
// Open lays out the index from the directory listing (segment names carry
// their first index) and loads only the tail: the last segment and, after a
// crash, the segments back to the first one whose trailer is durable (seals
// are synced in order). Every other segment is validated (header, trailer,
// the count its successor's name implies) on first access, so Open costs a
// handful of reads however long the log. The last segment is trusted up to
// the meta file's clean-shutdown record when Close wrote one, and scanned
// otherwise; the scan stops at the first chunk that does not verify (a torn,
// unacknowledged tail), seals the segment there, and later appends go to a
// new segment, so nothing past the recovered end can ever be revalidated. A
// chunk that fails verification below what an on-disk record vouches for
// (a trailer, the durable checkpoint, the clean-shutdown record) is
// corruption of acknowledged data, reported as ErrCorrupt, never trimmed.
// The entries acknowledged by the very last sync round before a crash are
// vouched for by their checksums alone (docs/decisions.md, "Damage the
// records vouch for").
//
// Open refuses to create a journal in a directory that holds other files
// (ErrNotEmpty, unless Options.AllowNonEmpty); a directory holds a journal
// when it has a META file or a segment file.
//
// TruncateBack records the cut in the meta file before sealing the cut
// segment and unlinking later ones; recovery re-applies it, so a crash at
// any step yields either the old log or the cut one.
//
// # Background work
//
// An open Journal runs up to five goroutines, all stopped by Close: a
// prefaulter that prefills with zeros and faults in the pages just ahead of
// the writer, and drops written pages behind it from the process's page
// tables; a spare maker that prepares the next segment file once the
// active one is half full; a bounder that releases sealed segments' pages
// and evicts mapped segments over the cap; a reaper that unmaps and closes
// the files a cut removed; and, under GroupCommit, the committer. None
// holds the writer lock during I/O; the spare maker never touches a file
// the journal has published.
//
// # Durable writes through the mapping
//
// The page cache folios a sync writes back are shaped before the writer
// reaches them: the prefaulter writes zeros ahead of the writer with
// write(2) in pieces of a sixteenth of a sync round (4 KiB to 256 KiB),
// which the page cache keeps as folios of that size, so that a round
// writes back what it appended and a sixteenth more, not the megabyte
// folios the fault path would build; the whole mapping is advised
// random-access, so that no fault reads around and builds them past the
// prefill (one piece of advice for the whole mapping: advice on part of it
// splits the VMA, and msync fsyncs once per VMA). The zeros never land
// below the writer: each range the writer writes (its windows, a chunk's
// block sums) is claimed against a frontier the prefill only advances past
// zeros it has written (prefill.go). Before a sync, the written pages
// leave the page tables in one TLB flush (writeback would otherwise
// write-protect them one shootdown at a time); they stay in the page
// cache.
//
// # Bounded mappings
//
// At most Options.MaxOpenSegments sealed segments (default 16) are mapped,
// each with an open file, besides the active segment, segments whose seal
// is not yet durable and segments pinned by readers: a load over the cap
// unmaps and closes the least recently used sealed segment that nothing
// pins, and the next read maps it again after checking its header and
// trailer with pread (a file changed meanwhile is ErrCorrupt). Readers
// take no lock for this: a pin keeps a mapping, and eviction backs off
// when it sees one. A sealed segment's pages are released from the process
// (MADV_DONTNEED) once its seal is durable; they stay in the page cache and
// readers fault back only what they read. Descriptors, mappings and the
// resident set are thus bounded by configuration, not by log length.
//
// # Durability
//
// Append makes an entry readable and returns its index; Durable() is the
// watermark below which entries survive a crash. SyncEach returns from
// Append once the entry is durable (concurrent appenders share syncs);
// GroupCommit syncs in the background, one sync after another; PageCache
// syncs only when asked (Sync, WaitDurable, Batch.RequireDurable) or when a
// segment is sealed. A failed sync is sticky: the instance acknowledges
// nothing more and every write returns an error wrapping ErrFailed.
//
// # Borrowed bytes
//
// A View, the reader of Read and the current entry of an Iterator borrow
// the mapped pages: their bytes are valid until Release, the end of the
// Read callback, or the iterator's next step. Build with -tags spooldebug to
// have use after release panic with the place of release.
//
// # Crash testing
//
// The crash tests (crash_*_test.go) run the journal on internal/crashfs, a
// simulated disk whose unsynced pages, sectors and directory operations a
// crash keeps or loses. Long runs: SPOOL_CRASH_IMAGES (random crash images,
// default 2000), SPOOL_CRASH_TORN_IMAGES (images with tearing sectors,
// default 300), SPOOL_CRASH_STALE_CYCLES (truncate/re-append cycles,
// default 100), SPOOL_CRASH_CONCURRENT_SEEDS (crashes under concurrent
// appenders, default 40), SPOOL_CRASH_BLOCK_IMAGES (images of the sweep
// over multi-block and spanning entries in 256 KiB segments, default
// 300). SPOOL_CRASH_SEED=N replays one sweep seed and
// SPOOL_CRASH_TRACE=1 logs its steps and disk operations.
package journal
