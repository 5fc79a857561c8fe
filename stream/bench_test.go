package stream

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// Benchmarks pair each Writer/Reader path with the plainest equivalent in
// the same run: binary.LittleEndian into a []byte, copy, bytes.Buffer.

func BenchmarkWriterPutUint64(b *testing.B) {
	buf := make([]byte, 8<<10)
	var w Writer
	b.SetBytes(8)
	b.ReportAllocs()
	w.Reset(nil, buf)
	for b.Loop() {
		if w.Available() < 8 {
			w.Reset(nil, buf)
		}
		w.PutUint64(0x0102030405060708)
	}
}

func BenchmarkBaselinePutUint64(b *testing.B) {
	buf := make([]byte, 8<<10)
	off := 0
	b.SetBytes(8)
	for b.Loop() {
		if off+8 > len(buf) {
			off = 0
		}
		binary.LittleEndian.PutUint64(buf[off:], 0x0102030405060708)
		off += 8
	}
}

func BenchmarkWriterPutUvarint(b *testing.B) {
	buf := make([]byte, 8<<10)
	var w Writer
	b.ReportAllocs()
	w.Reset(nil, buf)
	for b.Loop() {
		if w.Available() < 10 {
			w.Reset(nil, buf)
		}
		w.PutUvarint(300)
	}
}

func benchWrite(b *testing.B, n, window int) {
	p := bytes.Repeat([]byte{7}, n)
	buf := make([]byte, 1<<20)
	sink := &sliceSink{buf: buf, size: window}
	var w Writer
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		sink.off = 0
		w.Reset(sink, sink.first())
		w.Write(p)
	}
}

func BenchmarkWriterWrite128B(b *testing.B)         { benchWrite(b, 128, 1<<20) }
func BenchmarkWriterWrite4KiB(b *testing.B)         { benchWrite(b, 4096, 1<<20) }
func BenchmarkWriterWrite64KiBWin4KiB(b *testing.B) { benchWrite(b, 64<<10, 4096) }

func BenchmarkBaselineCopy4KiB(b *testing.B) {
	p := bytes.Repeat([]byte{7}, 4096)
	dst := make([]byte, 4096)
	b.SetBytes(4096)
	for b.Loop() {
		copy(dst, p)
	}
}

func BenchmarkBaselineBytesBuffer4KiB(b *testing.B) {
	p := bytes.Repeat([]byte{7}, 4096)
	var buf bytes.Buffer
	b.SetBytes(4096)
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		buf.Write(p)
	}
}

func BenchmarkReaderUint64(b *testing.B) {
	buf := make([]byte, 8<<10)
	var r Reader
	b.SetBytes(8)
	b.ReportAllocs()
	r.Reset(nil, buf, int64(len(buf)))
	for b.Loop() {
		if r.Remaining() < 8 {
			r.Reset(nil, buf, int64(len(buf)))
		}
		_ = r.Uint64()
	}
}

func BenchmarkReaderBytesView(b *testing.B) {
	buf := make([]byte, 0, 8<<10)
	for len(buf)+130 < cap(buf) {
		buf = binary.AppendUvarint(buf, 128)
		buf = append(buf, make([]byte, 128)...)
	}
	var r Reader
	b.ReportAllocs()
	r.Reset(nil, buf, int64(len(buf)))
	for b.Loop() {
		if r.Remaining() < 130 {
			r.Reset(nil, buf, int64(len(buf)))
		}
		if _, err := r.BytesView(); err != nil {
			b.Fatal(err)
		}
	}
}
