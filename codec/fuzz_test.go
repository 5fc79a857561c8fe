package codec_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spoolhq/spool/codec"
	"github.com/spoolhq/spool/stream"
)

// Seed corpora are committed under testdata/fuzz; regenerate them (real
// entries of every built-in type, plain and compressed, and truncations)
// with SPOOL_CODEC_WRITE_CORPUS=1 go test -run TestWriteCorpus ./codec/.

// fuzzRegistry is shared by the fuzz targets: every built-in type, with
// a small MaxEntrySize so that no input can claim much.
func fuzzRegistry(t testing.TB) *codec.Registry {
	return newTestRegistry(t, codec.Options{MaxEntrySize: 1 << 20})
}

// sentinels are the errors a decoder may return for bad input.
var sentinels = []error{
	codec.ErrUnknownType, codec.ErrTypeMismatch, codec.ErrEnvelope, codec.ErrVersion,
	codec.ErrTooLarge, codec.ErrCorrupt,
}

func checkTyped(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("%s: untyped error %v", what, err)
}

// FuzzEnvelope reads an envelope from arbitrary bytes: never a panic, a
// typed error or a header whose fields are in range.
func FuzzEnvelope(f *testing.F) {
	f.Add([]byte{0x10, 1, 1})
	f.Add([]byte{0x11, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	reg := fuzzRegistry(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := reg.ReadHeader(reader(data, 3, true))
		checkTyped(t, "header", err)
		if err == nil && (h.TypeID == 0 || h.Compressed != (h.RawLen >= 0) || h.RawLen > 1<<20) {
			t.Fatalf("header out of range: %+v", h)
		}
	})
}

// FuzzDecode decodes arbitrary bytes as every built-in type, copying and
// borrowing, over windows whose size the input picks, and through
// DecodeAny: never a panic, only typed errors, and a successful decode
// re-encodes to a value that decodes equal.
func FuzzDecode(f *testing.F) {
	for _, seed := range seedEntries(f) {
		f.Add(seed, uint8(7))
	}
	reg := fuzzRegistry(f)
	f.Fuzz(func(t *testing.T, data []byte, win uint8) {
		ws := int(win%61) + 1
		known := win&0x80 == 0
		r := func() *stream.Reader { return reader(data, ws, known) }
		var p Put
		checkTyped(t, "put", codec.Decode(reg, r(), &p))
		checkTyped(t, "put borrowed", codec.DecodeBorrowed(reg, r(), &p))
		var b []byte
		checkTyped(t, "bytes", codec.Decode(reg, r(), &b))
		checkTyped(t, "bytes borrowed", codec.DecodeBorrowed(reg, r(), &b))
		var s string
		checkTyped(t, "string", codec.DecodeBorrowed(reg, r(), &s))
		var tm time.Time
		checkTyped(t, "time", codec.Decode(reg, r(), &tm))
		var a netip.Addr
		checkTyped(t, "addr", codec.Decode(reg, r(), &a))
		var m marshalOnly
		checkTyped(t, "marshalOnly", codec.Decode(reg, r(), &m))
		var d Doc
		checkTyped(t, "json", codec.Decode(reg, r(), &d))
		bl := codec.Blob{Dst: io.Discard}
		checkTyped(t, "blob", codec.Decode(reg, r(), &bl))
		v, _, err := reg.DecodeAny(r())
		checkTyped(t, "any", err)
		if err == nil {
			if _, isBlob := v.(codec.Blob); !isBlob {
				reencode(t, reg, v)
			}
		}
	})
}

// reencode encodes a decoded value again and checks it decodes equal.
func reencode(t *testing.T, reg *codec.Registry, v any) {
	win := newWindows(64)
	w := win.writer()
	var err error
	switch x := v.(type) {
	case Put:
		err = codec.Encode(reg, w, x)
	case []byte:
		err = codec.Encode(reg, w, x)
	case string:
		err = codec.Encode(reg, w, x)
	default:
		return // the other types' equality is their own (time zones, JSON maps)
	}
	if err != nil {
		t.Fatalf("re-encode %T: %v", v, err)
	}
	v2, _, err := reg.DecodeAny(reader(win.bytes(w), 5, true))
	if err != nil || fmt.Sprint(v2) != fmt.Sprint(v) {
		t.Fatalf("re-decoded %v (%v), want %v", short(v2), err, short(v))
	}
}

// FuzzLZ4 drives the decompression path: a compressed envelope for a Bytes
// entry with a fuzzed uncompressed length and fuzzed blocks must fail
// typed or decode to exactly that length; and fuzzed data compressed by
// the encoder decodes back equal.
func FuzzLZ4(f *testing.F) {
	f.Add(uint32(5), []byte{0x05, 0, 0, 0x80, 'h', 'e', 'l', 'l', 'o'}, []byte("hello hello hello"))
	f.Add(uint32(70000), []byte{0x10, 0, 0, 0, 0x1f, 0, 1, 0, 0xff, 0xff, 0xff, 0xff}, bytes.Repeat([]byte("ab"), 40000))
	reg := newTestRegistry(f, codec.Options{MaxEntrySize: 1 << 20, Compression: codec.Compression{Enabled: true}})
	f.Fuzz(func(t *testing.T, rawLen uint32, blocks, plain []byte) {
		entry := []byte{0x11, 2, 1}
		entry = appendUvarint(entry, uint64(rawLen))
		entry = append(entry, blocks...)
		var b []byte
		err := codec.Decode(reg, reader(entry, 17, true), &b)
		checkTyped(t, "lz4", err)
		if err == nil && len(b) != int(rawLen) {
			t.Fatalf("decoded %d bytes, envelope says %d", len(b), rawLen)
		}
		win := newWindows(1000)
		w := win.writer()
		if err := codec.Encode(reg, w, plain); err != nil {
			t.Fatal(err)
		}
		if err := codec.Decode(reg, reader(win.bytes(w), 999, true), &b); err != nil || !bytes.Equal(b, plain) {
			t.Fatalf("compressed round trip: %v", err)
		}
	})
}

// seedEntries returns real entries of every built-in type, plain and
// compressed, and some truncations and corruptions of them.
func seedEntries(t testing.TB) [][]byte {
	rng := rand.New(rand.NewPCG(9, 9))
	var out [][]byte
	for _, opts := range []codec.Options{{}, {Compression: codec.Compression{Enabled: true}}} {
		reg := newTestRegistry(t, opts)
		values := []func(w *stream.Writer) error{
			func(w *stream.Writer) error {
				return codec.Encode(reg, w, Put{Key: []byte("user/1"), Value: payload(rng, 300, true), Meta: Meta{TTL: time.Second, Revision: 3}})
			},
			func(w *stream.Writer) error { return codec.Encode(reg, w, payload(rng, 100, true)) },
			func(w *stream.Writer) error { return codec.Encode(reg, w, "a string payload") },
			func(w *stream.Writer) error { return codec.Encode(reg, w, time.Unix(1e9, 5).UTC()) },
			func(w *stream.Writer) error { return codec.Encode(reg, w, netip.MustParseAddr("::1")) },
			func(w *stream.Writer) error { return codec.Encode(reg, w, marshalOnly{1, 2}) },
			func(w *stream.Writer) error {
				return codec.Encode(reg, w, Doc{Name: "d", Tags: []string{"x"}, Attrs: map[string]string{"a": "b"}})
			},
			func(w *stream.Writer) error {
				return codec.Encode(reg, w, codec.Blob{Src: bytes.NewReader(payload(rng, 2000, true)), Size: 2000})
			},
		}
		for _, enc := range values {
			win := newWindows(4096)
			w := win.writer()
			if err := enc(w); err != nil {
				t.Fatal(err)
			}
			e := append([]byte(nil), win.bytes(w)...)
			out = append(out, e, e[:len(e)/2])
			bad := append([]byte(nil), e...)
			bad[len(bad)-1] ^= 0x5a
			out = append(out, bad)
		}
	}
	return out
}

// TestWriteCorpus writes the seed corpora when SPOOL_CODEC_WRITE_CORPUS
// is set, and otherwise checks that they exist.
func TestWriteCorpus(t *testing.T) {
	write := os.Getenv("SPOOL_CODEC_WRITE_CORPUS") != ""
	put := func(target string, args ...any) {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, a := range args {
			switch v := a.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			case uint8:
				fmt.Fprintf(&b, "uint8(%d)\n", v)
			case uint32:
				fmt.Fprintf(&b, "uint32(%d)\n", v)
			}
		}
		dir := filepath.Join("testdata", "fuzz", target)
		name := filepath.Join(dir, fmt.Sprintf("%x", sha256.Sum256(b.Bytes()))[:16])
		if !write {
			return
		}
		must(t, os.MkdirAll(dir, 0o755))
		must(t, os.WriteFile(name, b.Bytes(), 0o644))
	}
	seeds := seedEntries(t)
	for i, s := range seeds {
		put("FuzzDecode", s, uint8(i*37))
		n := min(len(s), 24)
		put("FuzzEnvelope", s[:n])
	}
	rng := rand.New(rand.NewPCG(1, 1))
	reg := newTestRegistry(t, codec.Options{Compression: codec.Compression{Enabled: true}})
	for _, n := range []int{0, 10, 1000, codec.BlockSize + 10} {
		for _, c := range []bool{true, false} {
			if n > codec.BlockSize && !c {
				continue // keep the corpus small
			}
			plain := payload(rng, n, c)
			win := newWindows(4096)
			w := win.writer()
			must(t, codec.Encode(reg, w, plain))
			h, err := reg.ReadHeader(reader(win.bytes(w), 4096, true))
			must(t, err)
			body := win.bytes(w)[3+len(appendUvarint(nil, uint64(h.RawLen))):]
			put("FuzzLZ4", uint32(h.RawLen), body, plain[:min(n, 300)])
		}
	}
	for _, target := range []string{"FuzzDecode", "FuzzEnvelope", "FuzzLZ4"} {
		if ents, err := os.ReadDir(filepath.Join("testdata", "fuzz", target)); err != nil || len(ents) == 0 {
			t.Errorf("no committed seed corpus for %s: run with SPOOL_CODEC_WRITE_CORPUS=1", target)
		}
	}
}
