package codec

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/pierrec/lz4/v4"
	"github.com/spoolhq/spool/stream"
)

// BlockSize is the uncompressed size of every lz4 block of a compressed
// body but the last: lz4's window is 64 KiB, so larger blocks would gain
// little ratio and cost memory on both sides.
const BlockSize = 64 << 10

// Block header: bit 31 set means the block is stored uncompressed (lz4
// found nothing to gain); bits 0..30 hold the stored length.
const (
	blockStored  = 1 << 31
	blockLenMask = blockStored - 1
)

var blockBound = lz4.CompressBlockBound(BlockSize)

// blockWriter is the stream.Sink of a compressed entry: the codec encodes
// into w, whose windows are raw; each full window is compressed into the
// entry's writer as one block. State is pooled so that steady-state
// appends do not allocate (the lz4 hash table alone is 136 KiB).
type blockWriter struct {
	out   *stream.Writer
	w     stream.Writer
	raw   []byte // BlockSize
	dst   []byte // blockBound
	lz    lz4.Compressor
	total int64
}

var blockWriters = sync.Pool{New: func() any {
	return &blockWriter{raw: make([]byte, BlockSize), dst: make([]byte, blockBound)}
}}

func (bw *blockWriter) reset(out *stream.Writer) {
	bw.out, bw.total = out, 0
	bw.w.Reset(bw, bw.raw)
}

// NextWindow implements stream.Sink: filled is a whole block.
func (bw *blockWriter) NextWindow(filled []byte) ([]byte, error) {
	if err := bw.flush(filled); err != nil {
		return nil, err
	}
	return bw.raw, nil
}

// finish compresses the last, partial block and returns the uncompressed
// length written.
func (bw *blockWriter) finish() (int64, error) {
	filled, err := bw.w.Detach()
	if err != nil {
		return bw.total, err
	}
	return bw.total, bw.flush(filled)
}

func (bw *blockWriter) flush(block []byte) error {
	if len(block) == 0 {
		return nil
	}
	n, err := bw.lz.CompressBlock(block, bw.dst)
	if err != nil {
		return fmt.Errorf("codec: lz4: %w", err)
	}
	if n == 0 || n >= len(block) {
		bw.out.PutUint32(blockStored | uint32(len(block)))
		_, _ = bw.out.Write(block)
	} else {
		bw.out.PutUint32(uint32(n))
		_, _ = bw.out.Write(bw.dst[:n])
	}
	bw.total += int64(len(block))
	return bw.out.Err()
}

// blockReader is the stream.Source of a compressed entry's body: each
// window is one block, decompressed into raw, or, for a stored block lying
// in one window of the entry, the entry's own bytes. Decompression is
// bounded by the block size and the length the envelope records, which the
// envelope reader has bounded by Options.MaxEntrySize: a hostile length
// claim costs nothing but the (fixed) pooled buffers.
type blockReader struct {
	in    *stream.Reader
	r     stream.Reader // what the codec reads
	raw   []byte        // BlockSize
	src   []byte        // blockBound, for blocks that straddle windows
	total int64
	done  int64
}

var blockReaders = sync.Pool{New: func() any {
	return &blockReader{raw: make([]byte, BlockSize), src: make([]byte, blockBound)}
}}

func (br *blockReader) reset(in *stream.Reader, rawLen, maxField int64) {
	br.in, br.total, br.done = in, rawLen, 0
	br.r.Reset(br, nil, rawLen)
	br.r.SetMaxBytes(maxField)
}

// release drops the references to the entry before pooling.
func (br *blockReader) release() {
	br.in = nil
	br.r.Reset(nil, nil, 0)
	blockReaders.Put(br)
}

// NextWindow implements stream.Source.
func (br *blockReader) NextWindow() ([]byte, error) {
	if br.done == br.total {
		return nil, io.EOF
	}
	want := int(min(BlockSize, br.total-br.done))
	at := br.in.Offset()
	h := br.in.Uint32()
	if err := br.in.Err(); err != nil {
		return nil, errorf(ErrCorrupt, at, err, "block header")
	}
	n := int(h & blockLenMask)
	stored := h&blockStored != 0
	if stored && n != want || !stored && (n == 0 || n > lz4.CompressBlockBound(want)) {
		return nil, errorf(ErrCorrupt, at, nil, fmt.Sprintf("block of %d stored bytes (stored %v) for %d raw bytes", n, stored, want))
	}
	src, err := br.in.Next(n)
	if errors.Is(err, stream.ErrSplit) {
		src = br.src[:n]
		if stored {
			src = br.raw[:n]
		}
		_, err = io.ReadFull(br.in, src)
	}
	if err != nil {
		return nil, errorf(ErrCorrupt, at, err, "block body")
	}
	br.done += int64(want)
	if stored {
		return src, nil
	}
	got, err := lz4.UncompressBlock(src, br.raw[:want])
	if err != nil || got != want {
		return nil, errorf(ErrCorrupt, at, err, fmt.Sprintf("lz4 block decodes to %d bytes, want %d", got, want))
	}
	return br.raw[:want], nil
}

// counter measures a body by encoding it into a discarding writer, for
// compression decisions about codecs without a Sizer.
type counter struct {
	w       stream.Writer
	scratch []byte
}

var counters = sync.Pool{New: func() any { return &counter{scratch: make([]byte, 4096)} }}

// NextWindow implements stream.Sink: every window is the same scratch.
func (c *counter) NextWindow([]byte) ([]byte, error) { return c.scratch, nil }
