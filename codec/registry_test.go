package codec_test

import (
	"errors"
	"runtime"
	"testing"

	"github.com/spoolhq/spool/codec"
	"github.com/spoolhq/spool/stream"
)

func TestRegisterErrors(t *testing.T) {
	reg := codec.NewRegistry(nil)
	must(t, codec.Register(reg, 7, PutCodec{}))
	cases := []struct {
		name string
		err  error
		want error
	}{
		{"duplicate id", codec.Register(reg, 7, codec.String{}), codec.ErrDuplicate},
		{"duplicate type", codec.Register(reg, 8, PutCodec{}), codec.ErrDuplicate},
		{"id 0", codec.Register(reg, 0, codec.Bytes{}), codec.ErrReservedID},
		{"reserved id", codec.Register(reg, codec.ReservedMin, codec.Bytes{}), codec.ErrReservedID},
		{"top id", codec.Register(reg, 1<<32-1, codec.Bytes{}), codec.ErrReservedID},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.err, c.want)
		}
	}
	if name, ok := reg.TypeName(7); !ok || name != "codec_test.Put" {
		t.Fatalf("TypeName(7) = %q, %v", name, ok)
	}
	// The failed registrations left nothing behind.
	must(t, codec.Register(reg, 8, codec.String{}))
	must(t, codec.Register(reg, codec.ReservedMin-1, codec.Bytes{}))
}

// TestVersionTooNew: an entry written by a newer codec version than the
// registered one is refused with ErrVersion, not misread.
func TestVersionTooNew(t *testing.T) {
	newer := codec.NewRegistry(nil)
	must(t, codec.Register(newer, 1, putV2Codec{}))
	win := newWindows(4096)
	w := win.writer()
	must(t, codec.Encode(newer, w, PutV2{Key: "k"}))
	older := codec.NewRegistry(nil)
	must(t, codec.Register(older, 1, putV1Codec{}))
	var p PutV1
	err := codec.Decode(older, reader(win.bytes(w), 100, true), &p)
	if !errors.Is(err, codec.ErrVersion) {
		t.Fatalf("got %v, want ErrVersion", err)
	}
}

// TestHostileLengthClaim: a compressed envelope claiming a huge
// uncompressed length (within MaxEntrySize) followed by almost nothing
// fails without allocating anything near the claim, for the decoders that
// copy the whole body (Bytes, String) and for streaming ones. A claim above
// MaxEntrySize is refused before anything is read.
func TestHostileLengthClaim(t *testing.T) {
	reg := newTestRegistry(t, codec.Options{MaxEntrySize: 1 << 30})
	entry := func(id uint32, raw uint64) []byte {
		b := []byte{0x11} // envelope v1, lz4
		b = appendUvarint(b, uint64(id))
		b = appendUvarint(b, 1)
		b = appendUvarint(b, raw)
		return append(b, 0x10, 0, 0, 0, 0xff) // a 16-byte block header, one byte
	}
	check := func(name string, data []byte, decode func(r *stream.Reader) error, want error) {
		t.Helper()
		decode(reader(data, 1<<20, true)) // warm the pools
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := decode(reader(data, 1<<20, true))
		runtime.ReadMemStats(&after)
		if !errors.Is(err, want) {
			t.Fatalf("%s: got %v, want %v", name, err, want)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 256<<10 {
			t.Fatalf("%s: hostile claim cost %d bytes of allocation", name, d)
		}
	}
	var b []byte
	var s string
	var p Put
	check("bytes", entry(2, 1<<30-1), func(r *stream.Reader) error { return codec.Decode(reg, r, &b) }, codec.ErrCorrupt)
	check("string", entry(3, 1<<30-1), func(r *stream.Reader) error { return codec.Decode(reg, r, &s) }, codec.ErrCorrupt)
	check("put", entry(1, 1<<30-1), func(r *stream.Reader) error { return codec.Decode(reg, r, &p) }, codec.ErrCorrupt)
	check("over max", entry(2, 1<<40), func(r *stream.Reader) error { return codec.Decode(reg, r, &b) }, codec.ErrTooLarge)
	// A Put whose key length claim is huge, inside a real compressed body.
	body := appendUvarint(nil, 1<<29)
	data := []byte{0x11, 1, 1}
	data = appendUvarint(data, uint64(len(body)))
	data = append(data, byte(len(body)), 0, 0, 0x80)
	data = append(data, body...)
	check("field claim", data, func(r *stream.Reader) error { return codec.Decode(reg, r, &p) }, stream.ErrTruncated)
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
