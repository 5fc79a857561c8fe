package journal

import (
	"encoding/binary"
	"io"
	"runtime/debug"

	"github.com/spoolhq/spool/mmapio"
	"github.com/zeebo/xxh3"
)

// Per-block checksums (format 3). A chunk of more than blockSize payload
// bytes carries one xxh3 per block after its payload, and its header's sum
// covers that array (format.go, chunkSpan). Readers hand out a block only
// once it is verified, so a reader that stops after the first bytes of an
// entry neither hashes nor faults in the rest (docs/decisions.md,
// "Per-block checksums (format 3)").

// blockSums reports whether chunks appended to s carry block sums: s is a
// format 3 segment. The version is read from the header in the mapping,
// which mapSegment checked (or the segment's creation wrote); the appender
// asks once per chunk, and a segment of an older format that Open adopts as
// the active one keeps its format, so that the build that wrote it can
// still read it.
func (s *segment) blockSums() bool {
	return binary.LittleEndian.Uint16(s.data[8:]) >= 3
}

// blockCursor walks an entry's chunks block by block, verifying each block
// before handing it out. A View's reader draws from one (View.src); copies
// and Verify use their own.
type blockCursor struct {
	v      *View
	seg    *segment // segment of the current chunk
	payOff int64    // file offset of the current chunk's payload
	pay    []byte   // the current chunk's payload
	// sums are the current chunk's block sums, nil when pay was verified
	// whole (a chunk without them); sumsOK once they were checked against
	// sum, the chunk header's, which covers them.
	sums   []byte
	sum    uint64
	sumsOK bool
	pos    int  // bytes of pay handed out
	last   bool // the current chunk ends the entry
}

// NextWindow implements stream.Source: the next verified block of the
// entry, or the rest of a chunk verified whole.
func (c *blockCursor) NextWindow() ([]byte, error) {
	for {
		if c.pos < len(c.pay) {
			if c.sums == nil {
				w := c.pay[c.pos:]
				c.pos = len(c.pay)
				return w, nil
			}
			w, err := c.block()
			if err != nil {
				return nil, err
			}
			c.pos += len(w)
			return w, nil
		}
		if c.last {
			return nil, io.EOF
		}
		if err := c.advance(); err != nil {
			return nil, err
		}
	}
}

// advance moves to the chunk of the entry that opens the next pinned
// segment.
func (c *blockCursor) advance() error {
	v := c.v
	next := v.nextPinned(c.seg)
	if next == nil {
		return corruptf(c.seg.path, -1, v.idx, "entry %d: continuation segment missing", v.idx)
	}
	h, pay, sums, err := next.continuation(v.idx, true)
	if err != nil {
		return err
	}
	*c = blockCursor{v: v, seg: next, payOff: dataStart + chunkHeaderSize, pay: pay, sums: sums, sum: h.sum, last: h.kind == kindLast}
	return nil
}

// block verifies and returns the block of the current chunk at pos (the
// block sums first, the first time).
func (c *blockCursor) block() (w []byte, err error) {
	off := c.payOff + int64(c.pos)
	defer recoverFault(&err, c.seg.path, &off, c.v.idx, debug.SetPanicOnFault(true))
	if !c.sumsOK {
		if xxh3.Hash(c.sums) != c.sum {
			at := c.payOff + alignUp(int64(len(c.pay)))
			return nil, corruptf(c.seg.path, at, c.v.idx, "block checksum array fails its checksum")
		}
		c.sumsOK = true
	}
	i := c.pos / blockSize
	end := min(c.pos+blockSize, len(c.pay))
	w = c.pay[c.pos:end:end]
	if xxh3.Hash(w) != binary.LittleEndian.Uint64(c.sums[8*i:]) {
		return nil, corruptf(c.seg.path, off, c.v.idx, "payload block %d (bytes [%d, %d) of the chunk) fails its checksum", i, c.pos, end)
	}
	return w, nil
}

// verifyRest verifies every block of the current chunk from pos on,
// without moving the cursor. From the chunk's start it reads the payload
// in order and never the block sums: the sums of the blocks as read are
// hashed as they are computed and compared with the header's sum, which
// covers the stored ones, so a whole read stays one sequential pass over
// the pages (the kernel's read-ahead follows it) rather than a jump to the
// sums at the chunk's end first; the stored sums are read after the
// payload. A mismatch is then located block by block.
func (c *blockCursor) verifyRest() error {
	if c.sums == nil || c.pos >= len(c.pay) {
		return nil
	}
	if c.pos == 0 && c.streamSums() {
		return nil
	}
	d := *c
	for d.pos < len(d.pay) {
		w, err := d.block()
		if err != nil {
			return err
		}
		d.pos += len(w)
	}
	return nil
}

// streamSums reports whether the sums of the chunk's blocks, computed from
// its payload, and the stored sums both hash to the header's sum; false on
// a memory fault too (the caller's block-by-block pass then reports it).
func (c *blockCursor) streamSums() (ok bool) {
	defer func(old bool) {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			if mmapio.FaultOf(r) == nil {
				panic(r)
			}
			ok = false
		}
	}(debug.SetPanicOnFault(true))
	var h xxh3.Hasher
	var b [8]byte
	for i := 0; i < len(c.pay); i += blockSize {
		binary.LittleEndian.PutUint64(b[:], xxh3.Hash(c.pay[i:min(i+blockSize, len(c.pay))]))
		_, _ = h.Write(b[:])
	}
	// The stored sums are checked too, last: a reader of the blocks
	// would fail on them, so a copy must.
	return h.Sum64() == c.sum && xxh3.Hash(c.sums) == c.sum
}

// verifyChunk checks the payload of a chunk with header h at off: its sum,
// or its block sums and every block. payEnd and sums come from chunkSpan
// and are within the segment. It touches the mapping: callers guard it.
func (s *segment) verifyChunk(off int64, h chunkHeader) bool {
	payEnd, sums, end := chunkSpan(off, h)
	pay := s.data[off+chunkHeaderSize : payEnd]
	if !h.blocks() {
		return xxh3.Hash(pay) == h.sum
	}
	arr := s.data[sums:end]
	if xxh3.Hash(arr) != h.sum {
		return false
	}
	for i := 0; i < len(pay); i += blockSize {
		if xxh3.Hash(pay[i:min(i+blockSize, len(pay))]) != binary.LittleEndian.Uint64(arr[8*(i/blockSize):]) {
			return false
		}
	}
	return true
}

// appendBlockSums appends the sums of the blocks of p to dst.
func appendBlockSums(dst []uint64, p []byte) []uint64 {
	for i := 0; i < len(p); i += blockSize {
		dst = append(dst, xxh3.Hash(p[i:min(i+blockSize, len(p))]))
	}
	return dst
}
