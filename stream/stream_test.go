package stream

import (
	"bytes"
	"errors"
	"io"
	"math"
	"runtime"
	"testing"
	"testing/iotest"
)

// sliceSink hands out consecutive windows of buf, each at most size bytes.
type sliceSink struct {
	buf  []byte
	off  int
	size int
}

func (s *sliceSink) first() []byte {
	n := min(s.size, len(s.buf))
	s.off = n
	return s.buf[:n]
}

func (s *sliceSink) NextWindow(filled []byte) ([]byte, error) {
	if s.off >= len(s.buf) {
		return nil, ErrNoSpace
	}
	n := min(s.size, len(s.buf)-s.off)
	w := s.buf[s.off : s.off+n]
	s.off += n
	return w, nil
}

// sliceSource hands out consecutive windows of data of the given sizes
// (cycling), including empty ones.
type sliceSource struct {
	data  []byte
	off   int
	sizes []int
	i     int
}

func (s *sliceSource) next() []byte {
	n := min(s.sizes[s.i%len(s.sizes)], len(s.data)-s.off)
	s.i++
	w := s.data[s.off : s.off+n]
	s.off += n
	return w
}

func (s *sliceSource) NextWindow() ([]byte, error) {
	if s.off >= len(s.data) {
		return nil, io.EOF
	}
	return s.next(), nil
}

func newReader(data []byte, sizes []int, known bool) *Reader {
	src := &sliceSource{data: data, sizes: sizes}
	size := int64(-1)
	if known {
		size = int64(len(data))
	}
	return NewReader(src, src.next(), size)
}

type record struct {
	u8  uint8
	u16 uint16
	u32 uint32
	u64 uint64
	i64 int64
	f32 float32
	f64 float64
	b   bool
	uv  uint64
	v   int64
	bs  []byte
	s   string
}

func (r *record) put(w *Writer) {
	w.PutUint8(r.u8)
	w.PutUint16(r.u16)
	w.PutUint32(r.u32)
	w.PutUint64(r.u64)
	w.PutInt64(r.i64)
	w.PutFloat32(r.f32)
	w.PutFloat64(r.f64)
	w.PutBool(r.b)
	w.PutUvarint(r.uv)
	w.PutVarint(r.v)
	w.PutBytes(r.bs)
	w.PutString(r.s)
}

func (r *record) get(rd *Reader) (record, error) {
	var out record
	out.u8 = rd.Uint8()
	out.u16 = rd.Uint16()
	out.u32 = rd.Uint32()
	out.u64 = rd.Uint64()
	out.i64 = rd.Int64()
	out.f32 = rd.Float32()
	out.f64 = rd.Float64()
	out.b = rd.Bool()
	out.uv = rd.Uvarint()
	out.v = rd.Varint()
	out.bs, _ = rd.AppendBytes(nil)
	out.s, _ = rd.String()
	return out, rd.Err()
}

func (r *record) size() int {
	return 1 + 2 + 4 + 8 + 8 + 4 + 8 + 1 + SizeUvarint(r.uv) + SizeVarint(r.v) + SizeBytes(len(r.bs)) + SizeBytes(len(r.s))
}

func testRecords() []record {
	return []record{
		{},
		{u8: 255, u16: math.MaxUint16, u32: math.MaxUint32, u64: math.MaxUint64, i64: math.MinInt64,
			f32: float32(math.Inf(-1)), f64: math.NaN(), b: true, uv: math.MaxUint64, v: math.MinInt64,
			bs: bytes.Repeat([]byte{0xab}, 300), s: "héllo, wörld"},
		{uv: 127, v: -64, bs: []byte{}, s: ""},
		// -0.0 as a Go constant is +0: negative zero needs Copysign.
		{uv: 128, v: 64, bs: []byte("x"), s: "y", f32: float32(math.Copysign(0, -1)), f64: math.Copysign(0, -1)},
	}
}

func TestRoundTripEverySplit(t *testing.T) {
	for ri, rec := range testRecords() {
		for win := 1; win <= 17; win++ {
			buf := make([]byte, 4096)
			sink := &sliceSink{buf: buf, size: win}
			w := NewWriter(sink, sink.first())
			rec.put(w)
			if w.Err() != nil {
				t.Fatalf("record %d window %d: %v", ri, win, w.Err())
			}
			if int(w.Written()) != rec.size() {
				t.Fatalf("record %d: wrote %d bytes, size helpers say %d", ri, w.Written(), rec.size())
			}
			data := buf[:w.Written()]
			for _, sizes := range [][]int{{win}, {0, win, 1}, {3, 0, 0, 7}} {
				for _, known := range []bool{true, false} {
					got, err := rec.get(newReader(data, sizes, known))
					if err != nil {
						t.Fatalf("record %d window %d sizes %v: %v", ri, win, sizes, err)
					}
					if got.u8 != rec.u8 || got.u16 != rec.u16 || got.u32 != rec.u32 || got.u64 != rec.u64 ||
						got.i64 != rec.i64 || math.Float32bits(got.f32) != math.Float32bits(rec.f32) ||
						math.Float64bits(got.f64) != math.Float64bits(rec.f64) || got.b != rec.b ||
						got.uv != rec.uv || got.v != rec.v || !bytes.Equal(got.bs, rec.bs) || got.s != rec.s {
						t.Fatalf("record %d window %d: got %+v want %+v", ri, win, got, rec)
					}
				}
			}
		}
	}
}

func TestWriterStickyError(t *testing.T) {
	buf := make([]byte, 10)
	sink := &sliceSink{buf: buf, size: 4}
	w := NewWriter(sink, sink.first())
	w.PutUint64(1)
	w.PutUint64(2) // needs 16 bytes: the sink runs out
	if !errors.Is(w.Err(), ErrNoSpace) {
		t.Fatalf("Err = %v", w.Err())
	}
	before := w.Written()
	w.PutUint32(3)
	w.PutString("more")
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Write after error: %v", err)
	}
	if w.Written() != before {
		t.Fatal("wrote after a sticky error")
	}
	custom := errors.New("codec failed")
	w2 := NewWriter(nil, make([]byte, 100))
	w2.Fail(custom)
	w2.PutUint64(1)
	if !errors.Is(w2.Err(), custom) || w2.Written() != 0 {
		t.Fatalf("Fail: %v, %d", w2.Err(), w2.Written())
	}
}

func TestReserveDetachAvailable(t *testing.T) {
	w := NewWriter(nil, make([]byte, 10))
	b := w.Reserve(4)
	copy(b, "abcd")
	if w.Available() != 6 || w.Reserve(7) != nil {
		t.Fatal("Reserve beyond the window")
	}
	filled, err := w.Detach()
	if string(filled) != "abcd" || err != nil {
		t.Fatalf("Detach = %q, %v", filled, err)
	}
}

func TestReaderLimitsNoHugeAllocation(t *testing.T) {
	// A length prefix claiming 2^40 bytes.
	var hdr [10]byte
	w := NewWriter(nil, hdr[:])
	w.PutUvarint(1 << 40)
	data := hdr[:w.Written()]
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, known := range []bool{true, false} {
		allocs := testing.AllocsPerRun(10, func() {
			r := newReader(data, []int{len(data)}, known)
			_, err := r.BytesView()
			var oe *OffsetError
			if !errors.As(err, &oe) || oe.Offset != 0 {
				t.Fatalf("err = %v", err)
			}
			if known && !errors.Is(err, ErrTooLong) && !errors.Is(err, ErrTruncated) {
				t.Fatalf("err = %v", err)
			}
		})
		if allocs > 16 { // the reader and the error value, never the claimed size
			t.Fatalf("%v allocations", allocs)
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Fatalf("a claimed length of 2^40 cost %d bytes of allocation", grew)
	}
	r := newReader(data, []int{3}, false)
	r.SetMaxBytes(100)
	if _, err := r.BytesView(); !errors.Is(err, ErrTooLong) {
		t.Fatalf("over the limit: %v", err)
	}
}

func TestReaderTruncatedEveryOffset(t *testing.T) {
	rec := testRecords()[1]
	buf := make([]byte, 4096)
	w := NewWriter(nil, buf)
	rec.put(w)
	data := buf[:w.Written()]
	for cut := 0; cut < len(data); cut++ {
		_, err := rec.get(newReader(data[:cut], []int{5, 0, 2}, cut%2 == 0))
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut %d: %v", cut, err)
		}
	}
}

func TestVarintOverflow(t *testing.T) {
	data := bytes.Repeat([]byte{0xff}, 11)
	for _, sizes := range [][]int{{11}, {1}} {
		r := newReader(data, sizes, true)
		r.Uvarint()
		if !errors.Is(r.Err(), ErrOverflow) {
			t.Fatalf("sizes %v: %v", sizes, r.Err())
		}
	}
}

func TestNextZeroCopyAndSplit(t *testing.T) {
	data := []byte("0123456789")
	src := &sliceSource{data: data, sizes: []int{4}}
	r := NewReader(src, src.next(), int64(len(data)))
	b, err := r.Next(3)
	if err != nil || string(b) != "012" || &b[0] != &data[0] {
		t.Fatalf("Next(3) = %q, %v (aliasing lost)", b, err)
	}
	if _, err := r.Next(3); !errors.Is(err, ErrSplit) {
		t.Fatalf("straddling Next: %v", err)
	}
	if r.Offset() != 3 {
		t.Fatalf("ErrSplit consumed bytes: offset %d", r.Offset())
	}
	rest, err := io.ReadAll(r)
	if err != nil || string(rest) != "3456789" || r.Remaining() != 0 {
		t.Fatalf("rest %q %v", rest, err)
	}
}

func TestIOConformance(t *testing.T) {
	data := bytes.Repeat([]byte("spool "), 100)
	if err := iotest.TestReader(newReader(data, []int{7, 0, 13}, true), data); err != nil {
		t.Fatal(err)
	}
	for c := 0; c < 3; c++ {
		r := newReader(data, []int{1, 2, 3}, false)
		for i := range data {
			b, err := r.ReadByte()
			if err != nil || b != data[i] {
				t.Fatalf("ReadByte %d: %v", i, err)
			}
		}
		if _, err := r.ReadByte(); err != io.EOF {
			t.Fatalf("at end: %v", err)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	rec := testRecords()[1]
	rec.f64 = 1
	buf := make([]byte, 4096)
	sink := &sliceSink{buf: buf, size: 5} // many windows: the slow paths
	var w Writer
	var r Reader
	src := &sliceSource{sizes: []int{3, 0, 7}}
	dst := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(100, func() {
		sink.off = 0
		w.Reset(sink, sink.first())
		rec.put(&w)
		if w.Err() != nil {
			t.Fatal(w.Err())
		}
		src.data, src.off, src.i = buf[:w.Written()], 0, 0
		r.Reset(src, src.next(), w.Written())
		r.Uint8()
		r.Uint16()
		r.Uint32()
		r.Uint64()
		r.Int64()
		r.Float32()
		r.Float64()
		r.Bool()
		r.Uvarint()
		r.Varint()
		dst, _ = r.AppendBytes(dst[:0])
		dst, _ = r.AppendBytes(dst[:0]) // the string field, copied into our buffer
		if r.Err() != nil || r.Remaining() != 0 {
			t.Fatal(r.Err())
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per encode+decode", allocs)
	}
}
