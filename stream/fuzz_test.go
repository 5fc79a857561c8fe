package stream

import (
	"errors"
	"io"
	"testing"
)

// FuzzReader decodes arbitrary bytes, split into windows chosen by the
// input, with a script of reads also chosen by the input: never a panic,
// and every error wraps a package sentinel.
func FuzzReader(f *testing.F) {
	f.Add([]byte{0x05, 'h', 'e', 'l', 'l', 'o'}, []byte{0, 1, 2, 3}, uint8(3))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, []byte{7, 7}, uint8(1))
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x08}, []byte{5}, uint8(2))
	f.Fuzz(func(t *testing.T, data, script []byte, win uint8) {
		sizes := []int{int(win%9) + 1, 0, int(win % 5)}
		r := newReader(data, sizes, win%2 == 0)
		r.SetMaxBytes(1 << 16)
		for _, op := range script {
			switch op % 12 {
			case 0:
				r.Uint8()
			case 1:
				r.Uint16()
			case 2:
				r.Uint32()
			case 3:
				r.Uint64()
			case 4:
				r.Uvarint()
			case 5:
				r.Varint()
			case 6:
				r.BytesView()
			case 7:
				r.String()
			case 8:
				r.Next(int(op) % 17)
			case 9:
				r.Skip(int64(op % 13))
			case 10:
				var b [7]byte
				r.Read(b[:])
			case 11:
				r.ReadByte()
			}
		}
		if err := r.Err(); err != nil && !errors.Is(err, ErrTooLong) && !errors.Is(err, ErrTruncated) &&
			!errors.Is(err, ErrOverflow) && !errors.Is(err, io.EOF) {
			t.Fatalf("untyped error %v", err)
		}
	})
}

// FuzzRoundTrip encodes fuzzed values across fuzzed windows and decodes
// them back equal.
func FuzzRoundTrip(f *testing.F) {
	f.Add(uint64(0), int64(0), []byte{}, "", uint8(1))
	f.Add(uint64(1<<63), int64(-1<<63), []byte("payload"), "key", uint8(3))
	f.Fuzz(func(t *testing.T, u uint64, v int64, b []byte, s string, win uint8) {
		rec := record{u64: u, uv: u, v: v, i64: v, bs: b, s: s}
		buf := make([]byte, rec.size())
		sink := &sliceSink{buf: buf, size: int(win%16) + 1}
		w := NewWriter(sink, sink.first())
		rec.put(w)
		if w.Err() != nil || int(w.Written()) != len(buf) {
			t.Fatalf("write: %v, %d of %d", w.Err(), w.Written(), len(buf))
		}
		got, err := rec.get(newReader(buf, []int{int(win%7) + 1, 0}, true))
		if err != nil || got.u64 != u || got.uv != u || got.v != v || string(got.bs) != string(b) || got.s != s {
			t.Fatalf("round trip: %+v, %v", got, err)
		}
	})
}
