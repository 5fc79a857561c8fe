package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// A Source supplies the windows a Reader reads from, in order. NextWindow
// returns io.EOF when the stream has no more windows; any other error is
// sticky in the Reader and returned as is (a journal source reports checksum
// failures this way). A returned window may be empty.
type Source interface {
	NextWindow() ([]byte, error)
}

// DefaultMaxBytes is the default bound on a length-prefixed field.
const DefaultMaxBytes = 64 << 20

// Reader decodes values from a sequence of windows supplied by a Source. The
// zero Reader is an empty stream: Reset it before use. A Reader is not safe
// for concurrent use.
//
// Every length read from the stream is bounded, before it is used, by the
// Reader's maximum field length and, when the stream's size is known, by the
// bytes remaining, so hostile input cannot cause a large allocation.
type Reader struct {
	buf  []byte // current window
	off  int    // read position in buf
	base int64  // stream offset of buf[0]
	size int64  // total stream length, or -1 if unknown
	max  int64  // bound on length-prefixed fields
	src  Source
	err  error
}

// NewReader returns a Reader over first followed by the windows of src (which
// may be nil). size is the stream's total length if known, else -1.
func NewReader(src Source, first []byte, size int64) *Reader {
	r := new(Reader)
	r.Reset(src, first, size)
	return r
}

// Reset makes r read first and then the windows of src; size is the total
// length of the stream if known, else -1. The maximum field length returns to
// DefaultMaxBytes.
func (r *Reader) Reset(src Source, first []byte, size int64) {
	*r = Reader{buf: first, size: size, max: DefaultMaxBytes, src: src}
}

// SetMaxBytes bounds the length of Bytes/String fields (and of Next and
// Skip requests) to n bytes.
func (r *Reader) SetMaxBytes(n int64) { r.max = n }

// Err returns the first error the Reader met, or nil. Reaching the end of the
// stream exactly at a value boundary is not an error.
func (r *Reader) Err() error { return r.err }

// Offset returns the number of bytes consumed.
func (r *Reader) Offset() int64 { return r.base + int64(r.off) }

// Remaining returns the number of bytes left, or -1 if the stream's size is
// unknown.
func (r *Reader) Remaining() int64 {
	if r.size < 0 {
		return -1
	}
	return r.size - r.Offset()
}

// Buffered returns the unread part of the current window without consuming
// it. It may be empty even though the stream has more windows.
func (r *Reader) Buffered() []byte { return r.buf[r.off:] }

// fail records err (sticky) and empties the window so fast paths fall through.
func (r *Reader) fail(err error) error {
	if r.err == nil {
		r.err = err
		r.base += int64(r.off)
		r.buf, r.off = nil, 0
	}
	return r.err
}

func (r *Reader) errAt(off int64, sentinel error, format string, args ...any) error {
	return r.fail(&OffsetError{Offset: off, What: fmt.Sprintf(format, args...), Err: sentinel})
}

// advance moves to the next non-empty window. It returns io.EOF at the end of
// the stream without recording it; other errors are recorded.
func (r *Reader) advance() error {
	if r.err != nil {
		return r.err
	}
	for {
		if r.src == nil {
			return io.EOF
		}
		next, err := r.src.NextWindow()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return r.fail(err)
		}
		r.base += int64(len(r.buf))
		r.buf, r.off = next, 0
		if len(next) > 0 {
			return nil
		}
	}
}

// fill copies len(p) bytes into p, crossing windows; what names the value for
// the error at its start offset.
func (r *Reader) fill(p []byte, what string) error {
	start := r.Offset()
	for len(p) > 0 {
		if r.off == len(r.buf) {
			if err := r.advance(); err != nil {
				if err == io.EOF {
					return r.errAt(start, ErrTruncated, "%s of %d bytes", what, len(p))
				}
				return err
			}
		}
		n := copy(p, r.buf[r.off:])
		r.off += n
		p = p[n:]
	}
	return nil
}

// Read implements io.Reader. It returns io.EOF at the end of the stream.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, r.err
	}
	if r.off == len(r.buf) {
		if err := r.advance(); err != nil {
			return 0, err
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// ReadByte implements io.ByteReader. It returns io.EOF at the end of the
// stream.
func (r *Reader) ReadByte() (byte, error) {
	if r.off < len(r.buf) {
		c := r.buf[r.off]
		r.off++
		return c, nil
	}
	if err := r.advance(); err != nil {
		return 0, err
	}
	c := r.buf[r.off]
	r.off++
	return c, nil
}

// Uint8 reads one byte.
func (r *Reader) Uint8() uint8 {
	if r.off < len(r.buf) {
		c := r.buf[r.off]
		r.off++
		return c
	}
	var a [1]byte
	_ = r.fill(a[:], "uint8")
	return a[0]
}

// Bool reads one byte and reports whether it is non-zero.
func (r *Reader) Bool() bool { return r.Uint8() != 0 }

// Uint16 reads a little-endian uint16.
func (r *Reader) Uint16() uint16 {
	if len(r.buf)-r.off >= 2 {
		v := binary.LittleEndian.Uint16(r.buf[r.off:])
		r.off += 2
		return v
	}
	var a [2]byte
	_ = r.fill(a[:], "uint16")
	return binary.LittleEndian.Uint16(a[:])
}

// Uint32 reads a little-endian uint32.
func (r *Reader) Uint32() uint32 {
	if len(r.buf)-r.off >= 4 {
		v := binary.LittleEndian.Uint32(r.buf[r.off:])
		r.off += 4
		return v
	}
	var a [4]byte
	_ = r.fill(a[:], "uint32")
	return binary.LittleEndian.Uint32(a[:])
}

// Uint64 reads a little-endian uint64.
func (r *Reader) Uint64() uint64 {
	if len(r.buf)-r.off >= 8 {
		v := binary.LittleEndian.Uint64(r.buf[r.off:])
		r.off += 8
		return v
	}
	var a [8]byte
	_ = r.fill(a[:], "uint64")
	return binary.LittleEndian.Uint64(a[:])
}

// Int64 reads a two's complement little-endian int64.
func (r *Reader) Int64() int64 { return int64(r.Uint64()) }

// Float64 reads IEEE 754 bits little endian.
func (r *Reader) Float64() float64 { return math.Float64frombits(r.Uint64()) }

// Float32 reads IEEE 754 bits little endian.
func (r *Reader) Float32() float32 { return math.Float32frombits(r.Uint32()) }

// Uvarint reads a base-128 varint.
func (r *Reader) Uvarint() uint64 {
	if v, n := binary.Uvarint(r.buf[r.off:]); n > 0 {
		r.off += n
		return v
	}
	return r.uvarintSlow()
}

func (r *Reader) uvarintSlow() uint64 {
	start := r.Offset()
	var v uint64
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if r.off == len(r.buf) {
			if err := r.advance(); err != nil {
				if err == io.EOF {
					r.errAt(start, ErrTruncated, "varint")
				}
				return 0
			}
		}
		c := r.buf[r.off]
		r.off++
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			return v | uint64(c)<<(7*i)
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	r.errAt(start, ErrOverflow, "varint")
	return 0
}

// Varint reads a zig-zag base-128 varint.
func (r *Reader) Varint() int64 {
	u := r.Uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// checkLen bounds an untrusted length n read at offset at.
func (r *Reader) checkLen(n uint64, at int64, what string) bool {
	if r.err != nil {
		return false
	}
	if n > uint64(r.max) {
		r.errAt(at, ErrTooLong, "%s length %d > limit %d", what, n, r.max)
		return false
	}
	if r.size >= 0 && n > uint64(r.Remaining()) {
		r.errAt(at, ErrTruncated, "%s length %d > %d bytes remaining", what, n, r.Remaining())
		return false
	}
	return true
}

// Next consumes n bytes and returns them without copying if they are
// contiguous in the current window (moving to the next window first if the
// current one is used up). If they straddle windows it returns ErrSplit and
// consumes nothing; the caller then reads them with io.ReadFull. The slice
// aliases the window: see the package doc on borrowed bytes.
func (r *Reader) Next(n int) ([]byte, error) {
	if n < 0 || !r.checkLen(uint64(n), r.Offset(), "next") {
		if r.err == nil {
			return nil, r.errAt(r.Offset(), ErrTooLong, "negative length %d", n)
		}
		return nil, r.err
	}
	if r.off == len(r.buf) && n > 0 {
		if err := r.advance(); err != nil {
			if err == io.EOF {
				return nil, r.errAt(r.Offset(), ErrTruncated, "next %d bytes", n)
			}
			return nil, err
		}
	}
	if len(r.buf)-r.off < n {
		return nil, ErrSplit
	}
	b := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return b, nil
}

// Skip discards n bytes.
func (r *Reader) Skip(n int64) error {
	start := r.Offset()
	if n < 0 {
		return r.errAt(start, ErrTooLong, "negative skip %d", n)
	}
	if r.size >= 0 && n > r.Remaining() {
		return r.errAt(start, ErrTruncated, "skip %d > %d bytes remaining", n, r.Remaining())
	}
	for n > 0 {
		if r.off == len(r.buf) {
			if err := r.advance(); err != nil {
				if err == io.EOF {
					return r.errAt(start, ErrTruncated, "skip %d bytes", n)
				}
				return err
			}
		}
		k := min(int64(len(r.buf)-r.off), n)
		r.off += int(k)
		n -= k
	}
	return nil
}

// BytesView reads a length-prefixed field. When the field is contiguous in
// the current window the result aliases it (borrowed, zero-copy); when it
// straddles windows the field is copied into a new slice, bounded by the
// limits. Use AppendBytes to always copy into a buffer of your own.
func (r *Reader) BytesView() ([]byte, error) {
	at := r.Offset()
	n := r.Uvarint()
	if !r.checkLen(n, at, "bytes") {
		return nil, r.err
	}
	if b, err := r.Next(int(n)); err != ErrSplit {
		return b, err
	}
	b := make([]byte, n)
	if err := r.fill(b, "bytes"); err != nil {
		return nil, err
	}
	return b, nil
}

// AppendBytes reads a length-prefixed field and appends a copy of it to dst.
func (r *Reader) AppendBytes(dst []byte) ([]byte, error) {
	at := r.Offset()
	n := r.Uvarint()
	if !r.checkLen(n, at, "bytes") {
		return dst, r.err
	}
	dst = grow(dst, int(n))
	if err := r.fill(dst[len(dst)-int(n):], "bytes"); err != nil {
		return dst[:len(dst)-int(n)], err
	}
	return dst, nil
}

// String reads a length-prefixed field as a newly allocated string.
func (r *Reader) String() (string, error) {
	b, err := r.BytesView()
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// StringView reads a length-prefixed field as a string that aliases the
// window when the field is contiguous (borrowed: valid only while the
// window is, and must not be retained past the entry's pin).
func (r *Reader) StringView() (string, error) {
	b, err := r.BytesView()
	if err != nil {
		return "", err
	}
	return bytesString(b), nil
}

// grow extends dst by n bytes, reallocating only if its capacity is short.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst[:len(dst)+n]
	}
	out := make([]byte, len(dst)+n, len(dst)+n+len(dst)/4)
	copy(out, dst)
	return out
}
