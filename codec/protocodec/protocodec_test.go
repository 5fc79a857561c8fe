package protocodec_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/spoolhq/spool/codec"
	"github.com/spoolhq/spool/codec/internal/kvpb"
	"github.com/spoolhq/spool/codec/protocodec"
	"github.com/spoolhq/spool/internal/leakcheck"
	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/stream"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakcheck.Leaked("spool/journal."); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func registry(t testing.TB, opts codec.Options) *codec.Registry {
	reg := codec.NewRegistry(&opts)
	if err := codec.Register(reg, 12, protocodec.Of[*kvpb.Put]()); err != nil {
		t.Fatal(err)
	}
	return reg
}

// sink hands out windows of size bytes of one growing buffer.
type sink struct {
	buf  []byte
	size int
}

func (s *sink) NextWindow([]byte) ([]byte, error) { return s.next(), nil }
func (s *sink) next() []byte {
	s.buf = append(s.buf, make([]byte, s.size)...)
	return s.buf[len(s.buf)-s.size:]
}

// source hands out data in windows of size bytes.
type source struct {
	data []byte
	size int
}

func (s *source) NextWindow() ([]byte, error) {
	if len(s.data) == 0 {
		return nil, errEOF
	}
	n := min(s.size, len(s.data))
	b := s.data[:n:n]
	s.data = s.data[n:]
	return b, nil
}

var errEOF = io.EOF

func encode(t testing.TB, reg *codec.Registry, m *kvpb.Put, win int) []byte {
	s := &sink{size: win}
	w := stream.NewWriter(s, s.next())
	if err := codec.Encode(reg, w, m); err != nil {
		t.Fatal(err)
	}
	// The windows are appended to one buffer; but each window is a fresh
	// region only after the previous is full, so the written bytes are
	// the prefix.
	return s.buf[:w.Written()]
}

// TestRoundTrip: random messages, every policy, windows large and small
// (MarshalAppend into the window, or the pooled fallback), the size hint
// equal to the bytes written, decoding through split windows.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, opts := range []codec.Options{{}, {Compression: codec.Compression{Enabled: true}}} {
		reg := registry(t, opts)
		for i := 0; i < 50; i++ {
			m := &kvpb.Put{Key: rnd(rng, rng.IntN(40)), Value: rnd(rng, []int{0, 5, 300, 70000}[rng.IntN(4)]),
				TtlNanos: rng.Int64() - rng.Int64(), Revision: rng.Uint64(), Flags: rng.Uint32()}
			var ref []byte
			for _, win := range []int{3, 100, 1 << 20} {
				data := encode(t, reg, m, win)
				if hint := codec.SizeHint(reg, m); hint >= 0 && hint != int64(len(data)) {
					t.Fatalf("hint %d, wrote %d", hint, len(data))
				}
				if ref == nil {
					ref = append([]byte(nil), data...)
				} else if !bytes.Equal(ref, data) {
					t.Fatalf("encoding differs with windows of %d", win)
				}
			}
			for _, rs := range []int{1, 7, len(ref)} {
				var got *kvpb.Put
				r := stream.NewReader(&source{data: ref[rs:], size: rs}, ref[:rs], int64(len(ref)))
				if err := codec.Decode(reg, r, &got); err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(got, m) {
					t.Fatalf("got %v, want %v", got, m)
				}
			}
		}
	}
}

func rnd(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(4))
	}
	return b
}

// FuzzDecode: arbitrary bodies never panic and fail typed.
func FuzzDecode(f *testing.F) {
	reg := registry(f, codec.Options{MaxEntrySize: 1 << 20})
	f.Add(encode(f, reg, &kvpb.Put{Key: []byte("k"), Value: []byte("v"), Revision: 3}, 4096), uint8(5))
	f.Add([]byte{0x10, 12, 1, 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, win uint8) {
		ws := int(win%31) + 1
		n := min(ws, len(data))
		r := stream.NewReader(&source{data: data[n:], size: ws}, data[:n], int64(len(data)))
		var m *kvpb.Put
		err := codec.Decode(reg, r, &m)
		if err != nil && !errors.Is(err, codec.ErrCorrupt) && !errors.Is(err, codec.ErrEnvelope) &&
			!errors.Is(err, codec.ErrUnknownType) && !errors.Is(err, codec.ErrVersion) && !errors.Is(err, codec.ErrTooLarge) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

// Register a protobuf message type and append and read it through a
// journal.
func Example() {
	dir, _ := os.MkdirTemp("", "protocodec-example-")
	defer os.RemoveAll(dir)
	j, err := journal.Open(dir, &journal.Options{Sync: journal.PageCache})
	if err != nil {
		log.Fatal(err)
	}
	defer j.Close()

	reg := codec.NewRegistry(nil)
	if err := codec.Register(reg, 12, protocodec.Of[*kvpb.Put]()); err != nil {
		log.Fatal(err)
	}
	idx, err := codec.Append(j, reg, &kvpb.Put{Key: []byte("user/7"), Value: []byte("bob"), Revision: 2})
	if err != nil {
		log.Fatal(err)
	}
	var got *kvpb.Put
	if err := codec.Read(j, reg, idx, &got); err != nil {
		log.Fatal(err)
	}
	fmt.Println(idx, string(got.GetKey()), string(got.GetValue()), got.GetRevision())
	// Output: 1 user/7 bob 2
}
