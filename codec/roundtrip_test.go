package codec_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spoolhq/spool/codec"
)

// Doc is a JSON payload.
type Doc struct {
	Name  string            `json:"name"`
	Tags  []string          `json:"tags,omitempty"`
	Attrs map[string]string `json:"attrs,omitempty"`
	N     int64             `json:"n"`
}

// marshalOnly implements BinaryMarshaler but not BinaryAppender, to cover
// Binary's MarshalBinary path.
type marshalOnly struct{ A, B uint64 }

func (m marshalOnly) MarshalBinary() ([]byte, error) {
	return binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, m.A), m.B), nil
}

func (m *marshalOnly) UnmarshalBinary(b []byte) error {
	if len(b) != 16 {
		return errors.New("marshalOnly: want 16 bytes")
	}
	m.A, m.B = binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	return nil
}

// policies are the registries every round trip runs under.
var policies = []struct {
	name string
	opts codec.Options
}{
	{"plain", codec.Options{}},
	{"lz4", codec.Options{Compression: codec.Compression{Enabled: true}}},
	{"lz4>=100", codec.Options{Compression: codec.Compression{Enabled: true, MinSize: 100}}},
}

func newTestRegistry(t testing.TB, opts codec.Options) *codec.Registry {
	t.Helper()
	reg := codec.NewRegistry(&opts)
	must(t, codec.Register(reg, 1, PutCodec{}))
	must(t, codec.Register(reg, 2, codec.Bytes{}))
	must(t, codec.Register(reg, 3, codec.String{}))
	must(t, codec.Register(reg, 4, codec.BlobCodec{}))
	must(t, codec.Register(reg, 5, codec.BinaryOf[time.Time]()))
	must(t, codec.Register(reg, 6, codec.BinaryOf[netip.Addr]()))
	must(t, codec.Register(reg, 7, codec.BinaryOf[marshalOnly]()))
	must(t, codec.Register(reg, 8, codec.JSON[Doc]{}))
	return reg
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// payload returns n bytes, compressible or not.
func payload(rng *rand.Rand, n int, compressible bool) []byte {
	if rng == nil {
		rng = rand.New(rand.NewPCG(0, 0))
	}
	b := make([]byte, n)
	for i := range b {
		if compressible {
			b[i] = "spool raft log "[i%15]
			if rng.IntN(50) == 0 {
				b[i] = byte(rng.Uint32())
			}
		} else {
			b[i] = byte(rng.Uint32())
		}
	}
	return b
}

func randomPut(rng *rand.Rand) Put {
	sizes := []int{0, 1, 10, 100, 1000, codec.BlockSize - 7, codec.BlockSize + 100, 3*codec.BlockSize + 5}
	return Put{
		Key:   payload(rng, rng.IntN(40), rng.IntN(2) == 0),
		Value: payload(rng, sizes[rng.IntN(len(sizes))], rng.IntN(2) == 0),
		Meta:  Meta{TTL: time.Duration(rng.Int64() - rng.Int64()), Revision: rng.Uint64() >> rng.IntN(64), Flags: rng.Uint32()},
	}
}

// roundTrip encodes v into windows of several sizes, checks the size hint
// against the bytes written, and decodes it back from windows of several
// sizes, with and without a known stream size, copying and borrowing.
func roundTrip[T any](t *testing.T, reg *codec.Registry, v T, eq func(a, b T) bool) {
	t.Helper()
	var ref []byte
	for _, ws := range []int{1 << 20, 4096, 64, 3, 1} {
		if ws < 64 && len(ref) > 16<<10 {
			continue // tiny windows over large values only cost time
		}
		win := newWindows(ws)
		w := win.writer()
		if err := codec.Encode(reg, w, v); err != nil {
			t.Fatalf("encode (windows of %d): %v", ws, err)
		}
		data := win.bytes(w)
		if hint := codec.SizeHint(reg, v); hint >= 0 && hint != int64(len(data)) {
			t.Fatalf("size hint %d, %d bytes written", hint, len(data))
		}
		if ref == nil {
			ref = append([]byte(nil), data...)
		} else if !bytes.Equal(ref, data) {
			t.Fatalf("encoding differs with windows of %d bytes", ws)
		}
	}
	for _, rs := range []int{1, 5, 777, len(ref) + 1} {
		if rs == 1 && len(ref) > 16<<10 {
			continue
		}
		for _, known := range []bool{true, false} {
			for _, borrowed := range []bool{false, true} {
				var got T
				r := reader(ref, rs, known)
				var err error
				if borrowed {
					err = codec.DecodeBorrowed(reg, r, &got)
				} else {
					err = codec.Decode(reg, r, &got)
				}
				if err != nil {
					t.Fatalf("decode (windows of %d, size known %v, borrowed %v): %v", rs, known, borrowed, err)
				}
				if !eq(v, got) {
					t.Fatalf("decode (windows of %d, size known %v, borrowed %v): got %+v", rs, known, borrowed, short(got))
				}
			}
		}
	}
}

func short(v any) string {
	s := fmt.Sprintf("%+v", v)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func putEqual(a, b Put) bool {
	return bytes.Equal(a.Key, b.Key) && bytes.Equal(a.Value, b.Value) && a.Meta == b.Meta
}

func TestRoundTripBuiltins(t *testing.T) {
	for _, p := range policies {
		t.Run(p.name, func(t *testing.T) {
			reg := newTestRegistry(t, p.opts)
			rng := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < 12; i++ {
				roundTrip(t, reg, randomPut(rng), putEqual)
			}
			for _, n := range []int{0, 1, 99, 100, 5000, codec.BlockSize, codec.BlockSize + 1, 200_000} {
				for _, c := range []bool{true, false} {
					b := payload(rng, n, c)
					roundTrip(t, reg, b, bytes.Equal)
					roundTrip(t, reg, string(b), func(a, b string) bool { return a == b })
				}
			}
			for _, tm := range []time.Time{{}, time.Unix(1700000000, 123456789).UTC(), time.Date(2026, 12, 1, 18, 0, 0, 0, time.FixedZone("x", 3600))} {
				roundTrip(t, reg, tm, func(a, b time.Time) bool {
					_, ao := a.Zone()
					_, bo := b.Zone()
					return a.Equal(b) && ao == bo // MarshalBinary keeps the offset, not the zone's name
				})
			}
			for _, a := range []netip.Addr{{}, netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("fe80::1%eth0")} {
				roundTrip(t, reg, a, func(x, y netip.Addr) bool { return x == y })
			}
			roundTrip(t, reg, marshalOnly{A: 1, B: 1 << 63}, func(x, y marshalOnly) bool { return x == y })
			docs := []Doc{{}, {Name: "n", N: -5}, {Name: strings.Repeat("name \u2603 \"q\" ", 300), Tags: []string{"a", "b"}, Attrs: map[string]string{"k": "v", "<html>": "&"}}}
			for _, d := range docs {
				roundTrip(t, reg, d, func(a, b Doc) bool { return reflect.DeepEqual(a, b) })
			}
		})
	}
}

// TestRoundTripBlob streams blobs of several sizes through BlobCodec, with
// and without a known Size, under each policy.
func TestRoundTripBlob(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, p := range policies {
		reg := newTestRegistry(t, p.opts)
		for _, n := range []int{0, 1, 1000, 3*codec.BlockSize + 17} {
			for _, sized := range []bool{true, false} {
				data := payload(rng, n, n%2 == 0)
				v := codec.Blob{Src: bytes.NewReader(data)}
				if sized {
					v.Size = int64(n)
				}
				hint := codec.SizeHint(reg, v)
				win := newWindows(1000)
				w := win.writer()
				if err := codec.Encode(reg, w, v); err != nil {
					t.Fatal(err)
				}
				enc := win.bytes(w)
				if hint >= 0 && hint != int64(len(enc)) {
					t.Fatalf("%s: size hint %d, wrote %d", p.name, hint, len(enc))
				}
				for _, known := range []bool{true, false} {
					var out bytes.Buffer
					got := codec.Blob{Dst: &out}
					if err := codec.Decode(reg, reader(enc, 333, known), &got); err != nil {
						t.Fatalf("%s n=%d sized=%v: %v", p.name, n, sized, err)
					}
					if !bytes.Equal(out.Bytes(), data) || got.Size != int64(n) {
						t.Fatalf("%s n=%d: blob differs (%d bytes, Size %d)", p.name, n, out.Len(), got.Size)
					}
				}
			}
		}
	}
}

// TestBlobShortSrc: a Src that ends before Size fails the entry.
func TestBlobShortSrc(t *testing.T) {
	reg := newTestRegistry(t, codec.Options{})
	win := newWindows(100)
	err := codec.Encode(reg, win.writer(), codec.Blob{Src: bytes.NewReader(make([]byte, 10)), Size: 11})
	if !errors.Is(err, codec.ErrBlob) {
		t.Fatalf("got %v, want ErrBlob", err)
	}
}

// TestSizeMismatch: a codec whose Size lies fails the entry with ErrSize,
// compressed or not.
func TestSizeMismatch(t *testing.T) {
	for _, p := range policies {
		reg := codec.NewRegistry(&p.opts)
		must(t, codec.Register(reg, 1, lyingCodec{}))
		win := newWindows(100)
		w := win.writer()
		err := codec.Encode(reg, w, 200)
		if !errors.Is(err, codec.ErrSize) || !errors.Is(w.Err(), codec.ErrSize) {
			t.Fatalf("%s: got %v (writer %v), want ErrSize", p.name, err, w.Err())
		}
	}
}

type lyingCodec struct{}

func (lyingCodec) Version() uint32 { return 1 }
func (lyingCodec) Size(n int) int  { return n + 1 }
func (lyingCodec) Encode(w *streamWriter, n int) error {
	_, err := w.Write(make([]byte, n))
	return err
}
func (lyingCodec) Decode(r *streamReader, _ uint32, n *int) error { return nil }
