package stream_test

import (
	"fmt"

	"github.com/spoolhq/spool/stream"
)

// windows hands out fixed-size pieces of one buffer, as the journal hands
// out pieces of mapped pages.
type windows struct {
	buf  []byte
	off  int
	size int
}

func (s *windows) NextWindow(filled []byte) ([]byte, error) {
	if s.off >= len(s.buf) {
		return nil, stream.ErrNoSpace
	}
	w := s.buf[s.off:min(s.off+s.size, len(s.buf))]
	s.off += len(w)
	return w, nil
}

func ExampleWriter() {
	buf := make([]byte, 64)
	sink := &windows{buf: buf, off: 8, size: 8}
	w := stream.NewWriter(sink, buf[:8]) // values straddle 8-byte windows freely
	w.PutString("user/42")
	w.PutUvarint(300)
	w.PutFloat64(2.5)
	fmt.Println(w.Written(), w.Err())
	// Output: 18 <nil>
}

func ExampleReader() {
	buf := make([]byte, 32)
	w := stream.NewWriter(nil, buf)
	w.PutString("user/42")
	w.PutUvarint(300)
	n := w.Written()

	r := stream.NewReader(nil, buf[:n], n)
	key, _ := r.BytesView() // borrowed: aliases buf, valid while buf is
	fmt.Println(string(key), r.Uvarint(), r.Remaining(), r.Err())
	// Output: user/42 300 0 <nil>
}
