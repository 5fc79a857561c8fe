// Package codec turns application values into journal entries and back:
// registered codecs stream a payload straight into the journal's mapped
// pages through a stream.Writer and decode it from the pages through a
// stream.Reader, with optional per-entry lz4 compression. No payload is
// marshalled into an intermediate []byte on the way.
//
// # Guide
//
// Write a Codec for each payload type (or use a built-in one), register it
// once under a stable numeric type id, then append and replay typed values:
//
//	type PutCodec struct{}
//
//	func (PutCodec) Version() uint32 { return 1 }
//	func (PutCodec) Size(p Put) int { // optional (Sizer): the exact body size
//		return stream.SizeBytes(len(p.Key)) + stream.SizeBytes(len(p.Value))
//	}
//	func (PutCodec) Encode(w *stream.Writer, p Put) error {
//		w.PutString(p.Key) // straight into the mapped segment
//		w.PutBytes(p.Value)
//		return w.Err()
//	}
//	func (PutCodec) Decode(r *stream.Reader, version uint32, p *Put) error {
//		p.Key, _ = r.String()                 // copies: p outlives the entry
//		p.Value, _ = r.AppendBytes(p.Value[:0])
//		return r.Err()
//	}
//
//	reg := codec.NewRegistry(nil)
//	if err := codec.Register(reg, 7, PutCodec{}); err != nil { ... }
//	idx, err := codec.Append(j, reg, Put{Key: "k", Value: v})
//	err = codec.Read(j, reg, idx, &p)
//
// Replay with an Iterator, dispatching on the type id of each entry:
//
//	it := codec.Iter(j, reg, j.FirstIndex())
//	defer it.Close()
//	for it.Next() {
//		switch it.Header().TypeID {
//		case 7:
//			err = codec.DecodeCurrent(it, &put)
//		...
//	}
//
// Append, Read, ReadBorrowed and each step of an iteration cost no
// allocation per entry for a codec that allocates nothing itself (asserted
// by TestZeroAllocs), compressed or not; the lz4 state comes from pools,
// which are refilled after a garbage collection empties them. Append uses journal.AppendSized when the codec implements Sizer, so
// an entry that fits in a segment stays contiguous.
//
// Codecs are plain values: keep Encode and Decode free of shared state, or
// guard it, as appends and reads run concurrently.
//
// # Borrowed bytes
//
// Decode copies what it keeps, so the value outlives the entry. A codec
// that also implements BorrowDecoder may alias the entry's bytes instead
// (r.BytesView, r.StringView); the caller opts in with DecodeBorrowed,
// ReadBorrowed or DecodeCurrentBorrowed, and the aliased fields are then
// valid only while the entry is pinned: inside the journal.Read or
// ReadBorrowed callback, until journal.View.Release, or until the
// iterator's next step, the same contract as bufio.Reader.Peek and
// protowire's Consume functions. (Building with -tags spooldebug makes the
// journal panic on a View used after release; a slice kept from it is not
// caught.) A compressed entry borrows only
// when its body is one lz4 block (up to BlockSize); a longer one decodes
// through reused buffers and is copied.
//
// # Type ids
//
// A type id is persisted in every entry and must never be given to another
// type. Ids are 1 to ReservedMin-1 (ids below 128 cost one byte). Id 0 is
// never valid, so a zeroed entry is never mistaken for a value, and ids
// from ReservedMin (0xFFFF0000) up are reserved for spool's own entry
// types (opaque payload references, snapshot and membership markers,
// multi-group envelopes, as they arrive). Register refuses both, and a
// second registration of an id or of a Go type. Replaying an id the
// registry does not know fails with ErrUnknownType naming it and the index
// ("codec: unknown type id 42 at index 17"), never a panic.
//
// # Schema evolution
//
// Every entry records the Version of the codec that wrote it, and Decode
// receives it. To change a payload's encoding, raise Version and keep the
// decoding of every older version in Decode (a new field takes its default
// when decoding an old entry); old entries are never rewritten. An entry
// whose version is above the registered codec's is refused with ErrVersion
// rather than misread, so a rollback to an older build fails loudly.
// See TestSchemaEvolution and Example_schemaEvolution.
//
// # Envelope format, version 1
//
// Every entry's payload is an envelope followed by the body:
//
//	+--------+-------------+---------------+-------------------+------------------+
//	| flags  | type id     | codec version | uncompressed len  | body ...         |
//	| 1 byte | uvarint     | uvarint       | uvarint, if lz4   |                  |
//	+--------+-------------+---------------+-------------------+------------------+
//
//	flags: bits 7..4  envelope version (1)
//	       bits 3..2  reserved, zero (a reader refuses an envelope setting them)
//	       bits 1..0  compression: 0 none, 1 lz4 blocks, 2 and 3 reserved
//
// The type id is 1..2^32-1 and the codec version 0..2^32-1. An uncompressed
// body runs to the end of the entry. A compressed body is lz4 blocks, each
// holding BlockSize (64 KiB) uncompressed bytes except the last:
//
//	+-------------------+---------------------+-------------------+---------
//	| u32 LE block hdr  | stored bytes        | u32 LE block hdr  | ...
//	+-------------------+---------------------+-------------------+---------
//	block hdr: bit 31 set = stored uncompressed; bits 30..0 = stored length
//
// An empty body has no block. The number of blocks and the size each one
// decompresses to follow from the uncompressed length, so a reader
// decompresses every block into exactly its size: the length is bounded by
// Options.MaxEntrySize before anything is read, each block by BlockSize,
// and decompression uses fixed pooled buffers (no decompression bomb; see
// TestHostileLengthClaim). Integrity is the journal's: its chunk checksums
// cover the envelope and the body.
//
// # Compression
//
// The registry's Compression policy (off, always, or bodies from MinSize
// bytes up) is applied per entry while encoding: the codec writes into a
// pooled 64 KiB block buffer, each full block is compressed with a pooled
// lz4.Compressor into the entry, so a compressed payload is never held
// whole in memory either; steady-state appends do not allocate. Decoding
// reads blocks through a stream.Reader whose windows are the decompressed
// blocks. The policy is not persisted: every entry says whether it is
// compressed, so one journal may mix both and the policy may change
// between opens. The uncompressed length must be known before the body is
// written: it comes from the codec's Sizer, or else from a counting pass
// (one extra Encode into a discarding writer).
//
// # Built-in codecs
//
//   - Bytes, String: the body is the bytes, to the end of the entry.
//   - BlobCodec: a Blob streamed from an io.Reader on append and into an
//     io.Writer on decode, for payloads too large to hold in memory.
//   - BinaryOf: any type with encoding.BinaryMarshaler/BinaryUnmarshaler
//     (and BinaryAppender when it has it).
//   - JSON: encoding/json on the entry's writer and reader.
//   - Protocol buffers: the protocodec subpackage, so that this package
//     does not depend on protobuf.
//
// # Tests and benchmarks
//
// The benchmarks compare each path with its peers in the same run:
// BenchmarkCommand (a registered codec against proto.Marshal and
// json.Marshal into a []byte then journal.AppendBytes), BenchmarkBlob (a
// large payload appended and decoded by streaming, reporting Go heap
// growth; its size is SPOOL_BENCH_BLOB_MIB, 16 by default, 256 for the
// figure the README quotes), BenchmarkLZ4 (ratio and MB/s on compressible
// and incompressible data) and BenchmarkDecompress (decoding a compressed
// entry against lz4 block decompression alone).
package codec
