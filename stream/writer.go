package stream

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// A Sink supplies the windows a Writer writes into.
//
// NextWindow is called when the Writer has completely filled its current
// window; filled is that window, every byte of it written. The Sink returns
// the next window, which must have len > 0 unless err != nil. An error is
// sticky in the Writer.
type Sink interface {
	NextWindow(filled []byte) (next []byte, err error)
}

// Writer encodes values into a sequence of windows supplied by a Sink. The
// zero Writer has no window and no sink: Reset it before use. A Writer is not
// safe for concurrent use.
//
// Writer implements io.Writer, io.ByteWriter and io.StringWriter. Its Put
// methods record the first error and then do nothing; check Err (or the error
// of Write) once at the end.
type Writer struct {
	buf  []byte // current window; bytes [0:n) are written
	n    int
	base int64 // bytes written into earlier windows
	sink Sink
	err  error
}

// NewWriter returns a Writer that writes into first and then into the
// windows sink supplies. sink may be nil if first is all the space there is.
func NewWriter(sink Sink, first []byte) *Writer {
	w := new(Writer)
	w.Reset(sink, first)
	return w
}

// Reset discards the Writer's state and makes it write into first, then into
// the windows sink supplies.
func (w *Writer) Reset(sink Sink, first []byte) {
	// Field by field, not *w = Writer{...}: the compiler builds a composite
	// literal on the stack with 8-byte stores and copies it with 16-byte
	// loads, which cannot be store-forwarded and stall every append.
	w.buf, w.n, w.base = first, 0, 0
	w.sink, w.err = sink, nil
}

// Err returns the first error the Writer met, or nil.
func (w *Writer) Err() error { return w.err }

// Written returns the number of bytes written so far.
func (w *Writer) Written() int64 { return w.base + int64(w.n) }

// Detach returns the written part of the current window and the Writer's
// error. The sink owner calls it to finish a stream; the Writer must be Reset
// before further use.
func (w *Writer) Detach() (filled []byte, err error) {
	filled, err = w.buf[:w.n], w.err
	w.buf, w.n = nil, 0
	return filled, err
}

// Fail records err as the Writer's sticky error unless one is already
// recorded. Codecs use it to abort an entry.
func (w *Writer) Fail(err error) {
	if w.err == nil && err != nil {
		w.err = err
		w.buf = w.buf[:w.n] // no space left: every fast path now falls through
	}
}

// advance hands the full window to the sink and installs the next one.
func (w *Writer) advance() bool {
	if w.err != nil {
		return false
	}
	if w.sink == nil {
		w.Fail(ErrNoSpace)
		return false
	}
	next, err := w.sink.NextWindow(w.buf[:w.n])
	if err == nil && len(next) == 0 {
		err = ErrNoSpace
	}
	if err != nil {
		w.Fail(err)
		return false
	}
	w.base += int64(w.n)
	w.buf, w.n = next, 0
	return true
}

// Write writes p. It returns len(p) and nil, or the number of bytes written
// and the sticky error.
func (w *Writer) Write(p []byte) (int, error) {
	if n := copy(w.buf[w.n:], p); n == len(p) {
		w.n += n
		return n, nil
	}
	return w.writeSlow(p)
}

func (w *Writer) writeSlow(p []byte) (int, error) {
	total := 0
	for {
		n := copy(w.buf[w.n:], p)
		w.n += n
		total += n
		p = p[n:]
		if len(p) == 0 {
			return total, nil
		}
		if !w.advance() {
			return total, w.err
		}
	}
}

// WriteString writes s without converting it to a []byte.
func (w *Writer) WriteString(s string) (int, error) {
	if n := copy(w.buf[w.n:], s); n == len(s) {
		w.n += n
		return n, nil
	}
	return w.writeSlow(stringBytes(s))
}

// WriteByte writes one byte.
func (w *Writer) WriteByte(c byte) error {
	if w.n < len(w.buf) {
		w.buf[w.n] = c
		w.n++
		return nil
	}
	if !w.advance() {
		return w.err
	}
	w.buf[0] = c
	w.n = 1
	return nil
}

// Reserve returns the next n bytes of the current window for the caller to
// fill in place, and counts them as written. It returns nil, writing
// nothing, if the current window has fewer than n bytes left or the Writer
// has failed; the caller then falls back to Write. The slice is valid until
// the next call on the Writer.
func (w *Writer) Reserve(n int) []byte {
	if n < 0 || len(w.buf)-w.n < n {
		return nil
	}
	b := w.buf[w.n : w.n+n : w.n+n]
	w.n += n
	return b
}

// Available returns how many bytes the current window can still take before
// the sink is asked for another.
func (w *Writer) Available() int { return len(w.buf) - w.n }

// PutUint8 writes v.
func (w *Writer) PutUint8(v uint8) { _ = w.WriteByte(v) }

// PutBool writes v as one byte, 1 or 0.
func (w *Writer) PutBool(v bool) {
	var b byte
	if v {
		b = 1
	}
	_ = w.WriteByte(b)
}

// PutUint16 writes v little endian.
func (w *Writer) PutUint16(v uint16) {
	if len(w.buf)-w.n >= 2 {
		binary.LittleEndian.PutUint16(w.buf[w.n:], v)
		w.n += 2
		return
	}
	var a [2]byte
	binary.LittleEndian.PutUint16(a[:], v)
	_, _ = w.writeSlow(a[:])
}

// PutUint32 writes v little endian.
func (w *Writer) PutUint32(v uint32) {
	if len(w.buf)-w.n >= 4 {
		binary.LittleEndian.PutUint32(w.buf[w.n:], v)
		w.n += 4
		return
	}
	var a [4]byte
	binary.LittleEndian.PutUint32(a[:], v)
	_, _ = w.writeSlow(a[:])
}

// PutUint64 writes v little endian.
func (w *Writer) PutUint64(v uint64) {
	if len(w.buf)-w.n >= 8 {
		binary.LittleEndian.PutUint64(w.buf[w.n:], v)
		w.n += 8
		return
	}
	var a [8]byte
	binary.LittleEndian.PutUint64(a[:], v)
	_, _ = w.writeSlow(a[:])
}

// PutInt64 writes v as two's complement little endian.
func (w *Writer) PutInt64(v int64) { w.PutUint64(uint64(v)) }

// PutFloat64 writes the IEEE 754 bits of v little endian.
func (w *Writer) PutFloat64(v float64) { w.PutUint64(math.Float64bits(v)) }

// PutFloat32 writes the IEEE 754 bits of v little endian.
func (w *Writer) PutFloat32(v float32) { w.PutUint32(math.Float32bits(v)) }

// PutUvarint writes v as a base-128 varint (1 to 10 bytes).
func (w *Writer) PutUvarint(v uint64) {
	if len(w.buf)-w.n >= binary.MaxVarintLen64 {
		w.n += binary.PutUvarint(w.buf[w.n:], v)
		return
	}
	var a [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(a[:], v)
	_, _ = w.writeSlow(a[:n])
}

// PutVarint writes v zig-zag encoded as a base-128 varint.
func (w *Writer) PutVarint(v int64) {
	w.PutUvarint(uint64(v<<1) ^ uint64(v>>63))
}

// PutBytes writes b prefixed with its length as a uvarint.
func (w *Writer) PutBytes(b []byte) {
	w.PutUvarint(uint64(len(b)))
	_, _ = w.Write(b)
}

// PutString writes s prefixed with its length as a uvarint.
func (w *Writer) PutString(s string) {
	w.PutUvarint(uint64(len(s)))
	_, _ = w.WriteString(s)
}

// SizeUvarint returns the number of bytes PutUvarint(v) writes.
func SizeUvarint(v uint64) int {
	// Same trick as protowire.SizeVarint: 9/64 of the bit length, rounded up.
	return int(9*uint32(bits.Len64(v))+64) / 64
}

// SizeVarint returns the number of bytes PutVarint(v) writes.
func SizeVarint(v int64) int { return SizeUvarint(uint64(v<<1) ^ uint64(v>>63)) }

// SizeBytes returns the number of bytes PutBytes writes for an n-byte field.
func SizeBytes(n int) int { return SizeUvarint(uint64(n)) + n }
