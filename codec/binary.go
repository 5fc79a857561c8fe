package codec

import (
	"encoding"
	"sync"

	"github.com/spoolhq/spool/stream"
)

// Binary is the Codec of a type whose pointer implements
// encoding.BinaryMarshaler and encoding.BinaryUnmarshaler (time.Time,
// netip.Addr, url.URL, your own). Make one with BinaryOf.
//
// The type's own methods produce and consume whole byte slices, so this
// codec is not streamed: Encode uses AppendBinary (encoding.BinaryAppender)
// into a pooled buffer when the type has it, else MarshalBinary, and copies
// the result into the writer. Decode hands UnmarshalBinary the entry's bytes
// themselves when they lie in one window (its contract says it copies what
// it keeps), else a pooled copy.
type Binary[T any, P interface {
	*T
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}] struct{}

// BinaryOf returns the Binary codec of T; P is inferred:
//
//	codec.Register(reg, 9, codec.BinaryOf[time.Time]())
func BinaryOf[T any, P interface {
	*T
	encoding.BinaryMarshaler
	encoding.BinaryUnmarshaler
}]() Binary[T, P] {
	return Binary[T, P]{}
}

var binaryBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// maxPooled bounds the buffers kept for reuse, so one huge value does not
// pin its buffer forever.
const maxPooled = 1 << 20

// Version implements Codec.
func (Binary[T, P]) Version() uint32 { return 1 }

// Encode implements Codec.
func (Binary[T, P]) Encode(w *stream.Writer, v T) error {
	p := P(&v)
	if a, ok := any(p).(encoding.BinaryAppender); ok {
		bp := binaryBufs.Get().(*[]byte)
		out, err := a.AppendBinary((*bp)[:0])
		if err == nil {
			_, err = w.Write(out)
		}
		if cap(out) <= maxPooled {
			*bp = out[:0]
		}
		binaryBufs.Put(bp)
		return err
	}
	out, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}

// Decode implements Codec.
func (Binary[T, P]) Decode(r *stream.Reader, _ uint32, v *T) error {
	if b, ok := restView(r); ok {
		return P(v).UnmarshalBinary(b)
	}
	bp := binaryBufs.Get().(*[]byte)
	defer binaryBufs.Put(bp)
	b, err := appendRest(r, (*bp)[:0])
	if cap(b) <= maxPooled {
		*bp = b[:0]
	}
	if err != nil {
		return err
	}
	return P(v).UnmarshalBinary(b)
}
