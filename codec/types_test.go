package codec_test

import (
	"time"

	"github.com/spoolhq/spool/stream"
)

// Put is the typical application command the tests and benchmarks use: a
// KV write with key, value and metadata.
type Put struct {
	Key   []byte
	Value []byte
	Meta  Meta
}

// Meta is Put's metadata.
type Meta struct {
	TTL      time.Duration
	Revision uint64
	Flags    uint32
}

// PutCodec is a hand-written codec for Put: every field is written
// straight into the journal's window; Decode reuses the capacity of the
// value's slices, DecodeBorrowed aliases the entry.
type PutCodec struct{}

func (PutCodec) Version() uint32 { return 1 }

func (PutCodec) Size(p Put) int {
	return stream.SizeBytes(len(p.Key)) + stream.SizeBytes(len(p.Value)) +
		stream.SizeVarint(int64(p.Meta.TTL)) + stream.SizeUvarint(p.Meta.Revision) + 4
}

func (PutCodec) Encode(w *stream.Writer, p Put) error {
	w.PutBytes(p.Key)
	w.PutBytes(p.Value)
	w.PutVarint(int64(p.Meta.TTL))
	w.PutUvarint(p.Meta.Revision)
	w.PutUint32(p.Meta.Flags)
	return w.Err()
}

func (PutCodec) Decode(r *stream.Reader, _ uint32, p *Put) error {
	var err error
	if p.Key, err = r.AppendBytes(p.Key[:0]); err != nil {
		return err
	}
	if p.Value, err = r.AppendBytes(p.Value[:0]); err != nil {
		return err
	}
	p.Meta.TTL = time.Duration(r.Varint())
	p.Meta.Revision = r.Uvarint()
	p.Meta.Flags = r.Uint32()
	return r.Err()
}

func (PutCodec) DecodeBorrowed(r *stream.Reader, _ uint32, p *Put) error {
	var err error
	if p.Key, err = r.BytesView(); err != nil {
		return err
	}
	if p.Value, err = r.BytesView(); err != nil {
		return err
	}
	p.Meta.TTL = time.Duration(r.Varint())
	p.Meta.Revision = r.Uvarint()
	p.Meta.Flags = r.Uint32()
	return r.Err()
}

// windows is a stream.Sink and stream.Source over fixed-size windows of
// one buffer, to exercise every split of an entry across windows.
type windows struct {
	buf  []byte
	size int
	off  int // end of the last window handed out
	read int // reader position
	end  int // bytes written (set by finish)
}

func newWindows(size int) *windows {
	return &windows{buf: make([]byte, 0, 1<<20), size: size}
}

func (ws *windows) NextWindow(filled []byte) ([]byte, error) { return ws.next(), nil }

func (ws *windows) next() []byte {
	start := ws.off
	ws.off += ws.size
	if ws.off > cap(ws.buf) {
		nb := make([]byte, len(ws.buf), 2*ws.off)
		copy(nb, ws.buf)
		ws.buf = nb
	}
	ws.buf = ws.buf[:ws.off]
	return ws.buf[start:ws.off:ws.off]
}

// writer returns a Writer over fresh windows.
func (ws *windows) writer() *stream.Writer {
	ws.off, ws.buf = 0, ws.buf[:0]
	return stream.NewWriter(ws, ws.next())
}

// bytes returns what w wrote.
func (ws *windows) bytes(w *stream.Writer) []byte {
	return ws.buf[:w.Written()]
}

// split is a stream.Source handing out data in windows of size bytes.
type split struct {
	data []byte
	size int
}

func (s *split) NextWindow() ([]byte, error) {
	if len(s.data) == 0 {
		return nil, ioEOF
	}
	n := min(s.size, len(s.data))
	b := s.data[:n:n]
	s.data = s.data[n:]
	return b, nil
}

// reader returns a Reader over data in windows of size bytes; known says
// whether the Reader knows the stream's size (journal readers do).
func reader(data []byte, size int, known bool) *stream.Reader {
	s := &split{data: data, size: size}
	first, _ := s.NextWindow()
	n := int64(len(data))
	if !known {
		n = -1
	}
	return stream.NewReader(s, first, n)
}

type (
	streamWriter = stream.Writer
	streamReader = stream.Reader
)
