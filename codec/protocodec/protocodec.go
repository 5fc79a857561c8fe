package protocodec

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/spoolhq/spool/stream"
	"google.golang.org/protobuf/proto"
)

// Message is the codec.Codec of protobuf message type M, a pointer to a
// generated message struct. It implements codec.Sizer with proto.Size.
type Message[M proto.Message] struct{}

// Of returns the codec of message type M.
func Of[M proto.Message]() Message[M] { return Message[M]{} }

// ErrMessage reports a message that changed size while it was being
// encoded (a data race in the caller).
var ErrMessage = errors.New("protocodec: message changed while encoding")

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// maxPooled bounds the buffers kept for reuse.
const maxPooled = 1 << 20

// cached reuses the size proto.Size just computed instead of walking the
// message again.
var cached = proto.MarshalOptions{UseCachedSize: true}

// Version implements codec.Codec.
func (Message[M]) Version() uint32 { return 1 }

// Size implements codec.Sizer.
func (Message[M]) Size(m M) int { return proto.Size(m) }

// Encode implements codec.Codec.
func (Message[M]) Encode(w *stream.Writer, m M) error {
	n := proto.Size(m)
	if win := w.Reserve(n); win != nil {
		out, err := cached.MarshalAppend(win[:0], m)
		if err != nil {
			return fmt.Errorf("protocodec: %w", err)
		}
		if len(out) != n || n > 0 && &out[0] != &win[0] {
			return ErrMessage
		}
		return nil
	}
	bp := bufs.Get().(*[]byte)
	out, err := cached.MarshalAppend((*bp)[:0], m)
	if err == nil && len(out) != n {
		err = ErrMessage
	}
	if err == nil {
		_, err = w.Write(out)
	}
	if cap(out) <= maxPooled {
		*bp = out[:0]
	}
	bufs.Put(bp)
	return err
}

// Decode implements codec.Codec. A nil *v gets a new message.
func (Message[M]) Decode(r *stream.Reader, _ uint32, v *M) error {
	if !(*v).ProtoReflect().IsValid() {
		*v = (*v).ProtoReflect().Type().New().Interface().(M)
	}
	if rem := r.Remaining(); rem >= 0 && rem <= int64(len(r.Buffered())) {
		b, err := r.Next(int(rem))
		if err != nil {
			return err
		}
		return unmarshal(b, *v)
	}
	bp := bufs.Get().(*[]byte)
	defer bufs.Put(bp)
	b := (*bp)[:0]
	for {
		chunk := r.Buffered()
		if len(chunk) == 0 {
			c, err := r.ReadByte()
			if err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				return err
			}
			b = append(b, c)
			continue
		}
		b = append(b, chunk...)
		if _, err := r.Next(len(chunk)); err != nil {
			return err
		}
	}
	if cap(b) <= maxPooled {
		*bp = b[:0]
	}
	if err := r.Err(); err != nil {
		return err
	}
	return unmarshal(b, *v)
}

func unmarshal(b []byte, m proto.Message) error {
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("protocodec: %w", err)
	}
	return nil
}
