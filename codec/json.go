package codec

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spoolhq/spool/stream"
)

// JSON is the Codec of any type encoding/json handles. Encode runs a
// json.Encoder on the entry's writer; Decode runs a json.Decoder on the
// entry's reader and rejects anything but white space after the value.
//
// What is streamed: encoding/json builds each value in its own pooled
// buffer and then writes it in one call, so no []byte per entry is
// allocated here but the encoded value is held once in json's scratch. The
// decoder reads the entry through its own buffer. encoding/json allocates
// per call (an Encoder, a Decoder, reflection state): use it where
// convenience beats the zero-allocation path of a hand-written codec.
//
// JSON has no Sizer: with compression on, each value is encoded twice (once
// to count, see Compression).
type JSON[T any] struct{}

// Version implements Codec.
func (JSON[T]) Version() uint32 { return 1 }

// Encode implements Codec.
func (JSON[T]) Encode(w *stream.Writer, v T) error {
	return json.NewEncoder(w).Encode(v)
}

// Decode implements Codec; *v is zeroed first (json would merge into it).
func (JSON[T]) Decode(r *stream.Reader, _ uint32, v *T) error {
	var zero T
	*v = zero
	dec := json.NewDecoder(r)
	if err := dec.Decode(v); err != nil {
		return err
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return err
		}
		return fmt.Errorf("codec: json: %v after the value", tok)
	}
	return nil
}
