package codec

import (
	"strings"

	"github.com/spoolhq/spool/stream"
)

// Bytes is the Codec of raw []byte payloads: the body is the bytes
// themselves, with no length prefix (it runs to the end of the entry), so a
// log written with journal.AppendBytes maps to it byte for byte after the
// envelope.
//
// Decode appends into (*v)[:0], reusing its capacity; DecodeBorrowed sets
// *v to the entry's own bytes when they lie in one window.
type Bytes struct{}

// Version implements Codec.
func (Bytes) Version() uint32 { return 1 }

// Size implements Sizer.
func (Bytes) Size(v []byte) int { return len(v) }

// Encode implements Codec.
func (Bytes) Encode(w *stream.Writer, v []byte) error {
	_, err := w.Write(v)
	return err
}

// Decode implements Codec.
func (Bytes) Decode(r *stream.Reader, _ uint32, v *[]byte) error {
	var err error
	*v, err = appendRest(r, (*v)[:0])
	return err
}

// DecodeBorrowed implements BorrowDecoder.
func (c Bytes) DecodeBorrowed(r *stream.Reader, version uint32, v *[]byte) error {
	if b, ok := restView(r); ok {
		*v = b
		return nil
	}
	return c.Decode(r, version, v)
}

// String is the Codec of string payloads, laid out like Bytes.
// DecodeBorrowed returns a string aliasing the entry's bytes when they lie
// in one window: it must not be kept past the entry's pin.
type String struct{}

// Version implements Codec.
func (String) Version() uint32 { return 1 }

// Size implements Sizer.
func (String) Size(v string) int { return len(v) }

// Encode implements Codec.
func (String) Encode(w *stream.Writer, v string) error {
	_, err := w.WriteString(v)
	return err
}

// Decode implements Codec.
func (String) Decode(r *stream.Reader, _ uint32, v *string) error {
	if b, ok := restView(r); ok {
		*v = string(b)
		return nil
	}
	var sb strings.Builder
	err := eachWindow(r, func(b []byte) error {
		sb.Write(b)
		return nil
	})
	*v = sb.String()
	return err
}

// DecodeBorrowed implements BorrowDecoder.
func (c String) DecodeBorrowed(r *stream.Reader, version uint32, v *string) error {
	if b, ok := restView(r); ok {
		*v = bytesString(b)
		return nil
	}
	return c.Decode(r, version, v)
}
