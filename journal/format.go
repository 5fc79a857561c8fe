package journal

import (
	"encoding/binary"
	"fmt"

	"github.com/zeebo/xxh3"
)

// FormatVersion is the on-disk format version this package writes. Open
// refuses segments and meta files with a newer version (ErrVersion) and
// reads every older one.
//
// Version 2 moved a segment's checkpoint from offset 64, in the header's
// sector, to offset 512, a sector of its own: each sync round rewrites the
// checkpoint, and on a device whose sectors can tear, a torn write of the
// header's sector made the whole segment unreadable.
//
// Version 3 gives a chunk of more than blockSize payload bytes one
// checksum per block, in an array after its payload, and makes the
// header's sum cover that array: a reader verifies only the blocks it
// reaches, so reading an entry's first bytes, or its size, no longer
// hashes and faults in the whole entry. Smaller chunks are as in version 2.
// Meta files are the same in all three versions.
const FormatVersion = 3

const (
	segMagic     = "SPOOLSEG"
	trailerMagic = "SPOOLEND"
	metaMagic    = "SPOOLMTA"

	headerSize      = 64  // segment header record, at offset 0
	ckptOff         = 512 // durable checkpoint record, in a sector of its own (version 2)
	ckptOffV1       = 64  // where version 1 segments keep it, beside the header
	ckptSize        = 32
	dataStart       = 4096 // first chunk offset: the header owns page 0
	trailerSize     = 64   // segment trailer, in the last bytes of the file
	chunkHeaderSize = 32
	slotSize        = 4 // u32 chunk offset per entry starting in a segment
	chunkAlign      = 8

	// minChunkPayload is the least payload space worth starting an entry
	// in; with less left the segment is rolled first.
	minChunkPayload = 64

	// windowCap bounds the windows handed to a Writer so that a chunk's
	// checksum is computed incrementally while its bytes are still in cache.
	windowCap = 256 << 10

	// blockSize is the unit of verification of a format 3 chunk: a chunk
	// with more payload carries one checksum per block, so a reader
	// verifies, and faults in, only the blocks it reaches (docs/decisions.md,
	// "Per-block checksums (format 3)").
	blockSize = 16 << 10

	maxSegmentSize = 1 << 30 // slot offsets are u32; keep well inside
	minSegmentSize = 64 << 10
)

// Chunk kinds. An entry that fits in its segment is one full chunk; one that
// does not is a first chunk, zero or more middle chunks (one per further
// segment) and a last chunk.
const (
	kindFull   = 1
	kindFirst  = 2
	kindMiddle = 3
	kindLast   = 4
)

// Chunk header flags.
const (
	// chunkFlagBlocks: the payload (more than blockSize bytes, format 3)
	// is followed, after padding to chunkAlign, by one u64 xxh3 per block
	// of blockSize bytes (the last one shorter), and the header's sum is
	// the xxh3 of that array.
	chunkFlagBlocks = 1 << 0
)

// Segment header flags.
const (
	segFlagContinues = 1 << 0 // the segment opens with a continuation of entry base
)

// Trailer flags.
const (
	trailerFlagOpen = 1 << 0 // the segment's last counted entry continues into the next
)

func alignUp(n int64) int64 { return (n + chunkAlign - 1) &^ (chunkAlign - 1) }

// segmentSalt is the local identity mixed into every chunk check of a
// segment: a chunk copied from another journal, another segment or an
// earlier incarnation of a recycled file fails its check.
func segmentSalt(journalID, segID uint64) uint64 {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], journalID)
	binary.LittleEndian.PutUint64(b[8:], segID)
	s := xxh3.Hash(b[:])
	if s == 0 {
		s = 1
	}
	return s
}

// segHeader is the record at offset 0 of a segment file.
//
//	0      8      10     12     16           24           32          40          48        56       64
//	+------+------+------+------+------------+------------+-----------+-----------+---------+--------+
//	|magic |vers  |flags |resv  | journal ID | segment ID | base index| file size | created | xxh3   |
//	+------+------+------+------+------------+------------+-----------+-----------+---------+--------+
type segHeader struct {
	version   uint16
	flags     uint16
	journalID uint64
	segID     uint64
	base      uint64
	size      int64
	created   int64
}

func (h *segHeader) encode(b []byte) {
	_ = b[headerSize-1]
	copy(b[0:8], segMagic)
	binary.LittleEndian.PutUint16(b[8:], h.version)
	binary.LittleEndian.PutUint16(b[10:], h.flags)
	binary.LittleEndian.PutUint32(b[12:], 0)
	binary.LittleEndian.PutUint64(b[16:], h.journalID)
	binary.LittleEndian.PutUint64(b[24:], h.segID)
	binary.LittleEndian.PutUint64(b[32:], h.base)
	binary.LittleEndian.PutUint64(b[40:], uint64(h.size))
	binary.LittleEndian.PutUint64(b[48:], uint64(h.created))
	binary.LittleEndian.PutUint64(b[56:], xxh3.Hash(b[:56]))
}

// decodeSegHeader validates and decodes a segment header. The returned error
// is a bare reason; the caller wraps it with the file name.
func decodeSegHeader(b []byte) (segHeader, error) {
	var h segHeader
	if len(b) < headerSize {
		return h, fmt.Errorf("%w: segment header: %d bytes, want %d", ErrCorrupt, len(b), headerSize)
	}
	if string(b[0:8]) != segMagic {
		if allZero(b[:headerSize]) {
			return h, fmt.Errorf("%w: segment header is zero-filled", ErrCorrupt)
		}
		return h, fmt.Errorf("%w: segment header: bad magic %q", ErrForeign, b[0:8])
	}
	if binary.LittleEndian.Uint64(b[56:]) != xxh3.Hash(b[:56]) {
		return h, fmt.Errorf("%w: segment header: checksum mismatch", ErrCorrupt)
	}
	h.version = binary.LittleEndian.Uint16(b[8:])
	h.flags = binary.LittleEndian.Uint16(b[10:])
	h.journalID = binary.LittleEndian.Uint64(b[16:])
	h.segID = binary.LittleEndian.Uint64(b[24:])
	h.base = binary.LittleEndian.Uint64(b[32:])
	h.size = int64(binary.LittleEndian.Uint64(b[40:]))
	h.created = int64(binary.LittleEndian.Uint64(b[48:]))
	if h.version > FormatVersion {
		return h, fmt.Errorf("%w: segment format %d, this build reads up to %d", ErrVersion, h.version, FormatVersion)
	}
	if h.version == 0 {
		return h, fmt.Errorf("%w: segment header: version 0", ErrCorrupt)
	}
	if h.size < minSegmentSize || h.size > maxSegmentSize {
		return h, fmt.Errorf("%w: segment header: size %d out of range", ErrCorrupt, h.size)
	}
	return h, nil
}

// segTrailer is the record in the last trailerSize bytes of a sealed
// segment. Below it, growing downwards, lie count u32 slots: slot i (at
// fileSize-trailerSize-4*(i+1)) holds the chunk offset of entry firstStart+i.
//
//	0      8            16           24            32     36     40         48     56       64
//	+------+------------+------------+-------------+------+------+----------+------+--------+
//	|magic | journal ID | segment ID | first start |count |flags | data end | resv | xxh3   |
//	+------+------------+------------+-------------+------+------+----------+------+--------+
type segTrailer struct {
	journalID  uint64
	segID      uint64
	firstStart uint64
	count      uint32
	flags      uint32
	dataEnd    int64
}

func (t *segTrailer) encode(b []byte) {
	_ = b[trailerSize-1]
	copy(b[0:8], trailerMagic)
	binary.LittleEndian.PutUint64(b[8:], t.journalID)
	binary.LittleEndian.PutUint64(b[16:], t.segID)
	binary.LittleEndian.PutUint64(b[24:], t.firstStart)
	binary.LittleEndian.PutUint32(b[32:], t.count)
	binary.LittleEndian.PutUint32(b[36:], t.flags)
	binary.LittleEndian.PutUint64(b[40:], uint64(t.dataEnd))
	binary.LittleEndian.PutUint64(b[48:], 0)
	binary.LittleEndian.PutUint64(b[56:], xxh3.Hash(b[:56]))
}

// decodeTrailer decodes a trailer; ok is false when there is no valid
// trailer (a segment that was never sealed, or whose seal was torn).
func decodeTrailer(b []byte) (t segTrailer, ok bool) {
	if len(b) < trailerSize || string(b[0:8]) != trailerMagic ||
		binary.LittleEndian.Uint64(b[56:]) != xxh3.Hash(b[:56]) {
		return t, false
	}
	t.journalID = binary.LittleEndian.Uint64(b[8:])
	t.segID = binary.LittleEndian.Uint64(b[16:])
	t.firstStart = binary.LittleEndian.Uint64(b[24:])
	t.count = binary.LittleEndian.Uint32(b[32:])
	t.flags = binary.LittleEndian.Uint32(b[36:])
	t.dataEnd = int64(binary.LittleEndian.Uint64(b[40:]))
	return t, true
}

// chunkHeader precedes every chunk of payload.
//
//	0            8        12     13     14     16           24           32
//	+------------+--------+------+------+------+------------+------------+
//	| check      | length | kind | flags| resv | index      | sum        |
//	+------------+--------+------+------+------+------------+------------+
//
// sum is xxh3 of the chunk's payload bytes or, when flags has
// chunkFlagBlocks, of the array of per-block sums that follows the payload
// (see chunkSpan); check is xxh3 of header bytes [8:32) XOR the segment
// salt. The portable part (length .. sum, the payload and the sums) travels
// unchanged between journals; only the salt is local.
type chunkHeader struct {
	length uint32
	kind   uint8
	flags  uint8
	index  uint64
	sum    uint64
}

func (c *chunkHeader) encode(b []byte, salt uint64) {
	_ = b[chunkHeaderSize-1]
	// Bytes [8:16) are stored as one word: the check below reads them back
	// as one, and a load spanning several smaller stores cannot be
	// store-forwarded (a stall on every append).
	binary.LittleEndian.PutUint64(b[8:], uint64(c.length)|uint64(c.kind)<<32|uint64(c.flags)<<40)
	binary.LittleEndian.PutUint64(b[16:], c.index)
	binary.LittleEndian.PutUint64(b[24:], c.sum)
	// The check is stored last: on a machine that stores in order, a
	// header whose check is visible is complete.
	binary.LittleEndian.PutUint64(b[0:], xxh3.Hash(b[8:32])^salt)
}

// decodeChunkHeader decodes and checks a chunk header (not its payload).
func decodeChunkHeader(b []byte, salt uint64) (c chunkHeader, ok bool) {
	if len(b) < chunkHeaderSize {
		return c, false
	}
	if binary.LittleEndian.Uint64(b[0:])^salt != xxh3.Hash(b[8:32]) {
		return c, false
	}
	c.length = binary.LittleEndian.Uint32(b[8:])
	c.kind = b[12]
	c.flags = b[13]
	c.index = binary.LittleEndian.Uint64(b[16:])
	c.sum = binary.LittleEndian.Uint64(b[24:])
	if c.kind < kindFull || c.kind > kindLast || binary.LittleEndian.Uint16(b[14:]) != 0 {
		return c, false
	}
	// Versions 1 and 2 wrote no flag; a block-summed chunk is larger than
	// a block, so that each chunk has one form.
	if c.flags&^chunkFlagBlocks != 0 || c.blocks() && c.length <= blockSize {
		return c, false
	}
	return c, true
}

// blocks reports a chunk whose payload is followed by per-block sums.
func (c *chunkHeader) blocks() bool { return c.flags&chunkFlagBlocks != 0 }

// blockCount is the number of blocks of a payload of n bytes.
func blockCount(n int64) int64 { return (n + blockSize - 1) / blockSize }

// chunkSpan returns where the payload of the chunk at off ends, where its
// block sums lie ([sums, end); empty when it has none) and where the chunk
// ends: after the sums, or, for a chunk without them, at the end of its
// payload (the next chunk starts at alignUp(end)). The lengths derive from
// the header's u32 length alone; callers bound end by the segment before
// touching the bytes (docs/design.md, invariant 6).
func chunkSpan(off int64, h chunkHeader) (payEnd, sums, end int64) {
	payEnd = off + chunkHeaderSize + int64(h.length)
	if !h.blocks() {
		return payEnd, payEnd, payEnd
	}
	sums = alignUp(payEnd)
	return payEnd, sums, sums + 8*blockCount(int64(h.length))
}

// chunkCap returns the largest payload a chunk may hold in avail bytes
// after its header: all of them without block sums (versions 1 and 2),
// else the largest payload whose padding and block sums fit too. A chunk
// that does not end its entry holds exactly chunkCap (recovery checks that
// it filled its segment).
func chunkCap(avail int64, blocks bool) int64 {
	if !blocks || avail <= blockSize {
		return max(avail, 0)
	}
	k := avail / (blockSize + 8) // whole blocks with their sums
	p := k * blockSize
	if r := avail - k*(blockSize+8); r > 8 {
		p += (r - 8) &^ (chunkAlign - 1) // a last, partial block and its sum
	}
	return max(p, blockSize) // a chunk of one block needs no sums
}

// tmpSuffix marks a segment file still being prepared; Open removes them.
const tmpSuffix = ".tmp"

// segmentName names a segment file by its ID and the index of the first
// entry that starts in it, so that Open can lay out the index from the
// directory listing alone and validate old segments on first access.
func segmentName(id, first uint64) string { return fmt.Sprintf("%016x-%016x.seg", id, first) }

// parseSegmentName returns the ID and first index of a segment file name.
func parseSegmentName(name string) (id, first uint64, ok bool) {
	if len(name) != 37 || name[16] != '-' || name[33:] != ".seg" {
		return 0, 0, false
	}
	id, ok1 := parseHex(name[:16])
	first, ok2 := parseHex(name[17:33])
	return id, first, ok1 && ok2
}

func parseHex(s string) (uint64, bool) {
	var v uint64
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// ckptOffFor returns where a segment of the given format version keeps its
// checkpoint.
func ckptOffFor(version uint16) int64 {
	if version == 1 {
		return ckptOffV1
	}
	return ckptOff
}

// A checkpoint lies in the segment's first page, in the sector after the
// header's (at ckptOffFor(version) in older segments): the end
// offset and entry count of a prefix of the segment that an earlier sync
// made durable. Sync rounds rewrite it one round behind (the round that
// writes it covers it too), so it never claims more than is durable. During
// recovery a chunk that fails verification below the checkpoint is
// corruption of acknowledged data, reported, not a torn tail to trim.
//
//	0          8          12         16         24         32
//	+----------+----------+----------+----------+----------+
//	| data end | count    | reserved | last idx | check    |
//	+----------+----------+----------+----------+----------+
//
// check is xxh3 of bytes [0:24) XOR the segment salt.
type checkpoint struct {
	end   int64
	count uint32
	last  uint64
}

func (c *checkpoint) encode(b []byte, salt uint64) {
	_ = b[ckptSize-1]
	binary.LittleEndian.PutUint64(b[0:], uint64(c.end))
	binary.LittleEndian.PutUint32(b[8:], c.count)
	binary.LittleEndian.PutUint32(b[12:], 0)
	binary.LittleEndian.PutUint64(b[16:], c.last)
	binary.LittleEndian.PutUint64(b[24:], xxh3.Hash(b[:24])^salt)
}

func decodeCheckpoint(b []byte, salt uint64) (c checkpoint, ok bool) {
	if len(b) < ckptSize || binary.LittleEndian.Uint64(b[24:])^salt != xxh3.Hash(b[:24]) {
		return c, false
	}
	c.end = int64(binary.LittleEndian.Uint64(b[0:]))
	c.count = binary.LittleEndian.Uint32(b[8:])
	c.last = binary.LittleEndian.Uint64(b[16:])
	return c, true
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
