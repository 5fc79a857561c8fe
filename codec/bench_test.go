package codec_test

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/pierrec/lz4/v4"
	"github.com/spoolhq/spool/codec"
	"github.com/spoolhq/spool/codec/internal/kvpb"
	"github.com/spoolhq/spool/codec/protocodec"
	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/stream"
	"google.golang.org/protobuf/proto"
)

// benchCommand is the typical command of BenchmarkCommand: a 16-byte key,
// a 200-byte value and metadata.
func benchCommand() Put {
	return Put{Key: []byte("user/0000000042:"), Value: payload(nil, 200, true), Meta: Meta{TTL: 90 * time.Second, Revision: 123456, Flags: 3}}
}

// jsonPut is Put as the JSON peer marshals it.
type jsonPut struct {
	Key      []byte        `json:"key"`
	Value    []byte        `json:"value"`
	TTL      time.Duration `json:"ttl"`
	Revision uint64        `json:"rev"`
	Flags    uint32        `json:"flags"`
}

// benchJournal opens a page-cache journal that the benchmark compacts as it
// goes, so that disk use stays bounded whatever b.N.
func benchJournal(b *testing.B) (*journal.Journal, func(idx uint64)) {
	j, err := journal.Open(b.TempDir(), &journal.Options{Sync: journal.PageCache})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { j.Close() })
	return j, func(idx uint64) {
		if idx%50_000 == 0 {
			b.StopTimer()
			if err := j.TruncateFront(idx); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
}

// BenchmarkCommand appends a typical command and reads it back, through a
// registered codec (hand-written, and protobuf through protocodec) and
// through the buffered path the issue compares with: proto.Marshal or
// json.Marshal into a []byte, journal.AppendBytes, journal.ReadBytes into
// a reused buffer, then Unmarshal. Compare allocs/op and ns/op in one run.
func BenchmarkCommand(b *testing.B) {
	cmd := benchCommand()
	size := int64(len(cmd.Key) + len(cmd.Value))
	pb := &kvpb.Put{Key: cmd.Key, Value: cmd.Value, TtlNanos: int64(cmd.Meta.TTL), Revision: cmd.Meta.Revision, Flags: cmd.Meta.Flags}

	for _, p := range policies[:2] {
		b.Run("codec/"+p.name, func(b *testing.B) {
			j, compact := benchJournal(b)
			reg := newTestRegistry(b, p.opts)
			got := Put{Key: make([]byte, 0, 64), Value: make([]byte, 0, 256)}
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				idx, err := codec.Append(j, reg, cmd)
				if err != nil {
					b.Fatal(err)
				}
				if err := codec.Read(j, reg, idx, &got); err != nil {
					b.Fatal(err)
				}
				compact(idx)
			}
		})
	}
	b.Run("codec-borrowed/plain", func(b *testing.B) {
		j, compact := benchJournal(b)
		reg := newTestRegistry(b, codec.Options{})
		var got Put
		var sum int
		use := func(p *Put) error { sum += len(p.Value); return nil }
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			idx, err := codec.Append(j, reg, cmd)
			if err != nil {
				b.Fatal(err)
			}
			if err := codec.ReadBorrowed(j, reg, idx, &got, use); err != nil {
				b.Fatal(err)
			}
			compact(idx)
		}
	})
	b.Run("protocodec/plain", func(b *testing.B) {
		j, compact := benchJournal(b)
		reg := codec.NewRegistry(nil)
		must(b, codec.Register(reg, 12, protocodec.Of[*kvpb.Put]()))
		got := new(kvpb.Put)
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			idx, err := codec.Append(j, reg, pb)
			if err != nil {
				b.Fatal(err)
			}
			if err := codec.Read(j, reg, idx, &got); err != nil {
				b.Fatal(err)
			}
			compact(idx)
		}
	})
	b.Run("buffered/proto", func(b *testing.B) {
		j, compact := benchJournal(b)
		got := new(kvpb.Put)
		var buf []byte
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			data, err := proto.Marshal(pb)
			if err != nil {
				b.Fatal(err)
			}
			idx, err := j.AppendBytes(data)
			if err != nil {
				b.Fatal(err)
			}
			if buf, err = j.ReadBytes(idx, buf[:0]); err != nil {
				b.Fatal(err)
			}
			if err := proto.Unmarshal(buf, got); err != nil {
				b.Fatal(err)
			}
			compact(idx)
		}
	})
	b.Run("buffered/json", func(b *testing.B) {
		j, compact := benchJournal(b)
		jp := jsonPut{cmd.Key, cmd.Value, cmd.Meta.TTL, cmd.Meta.Revision, cmd.Meta.Flags}
		var got jsonPut
		var buf []byte
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			data, err := json.Marshal(jp)
			if err != nil {
				b.Fatal(err)
			}
			idx, err := j.AppendBytes(data)
			if err != nil {
				b.Fatal(err)
			}
			if buf, err = j.ReadBytes(idx, buf[:0]); err != nil {
				b.Fatal(err)
			}
			if err := json.Unmarshal(buf, &got); err != nil {
				b.Fatal(err)
			}
			compact(idx)
		}
	})
}

// blobMiB is the payload size of BenchmarkBlob: SPOOL_BENCH_BLOB_MIB,
// 16 by default (256 for the README's figure).
func blobMiB(b testing.TB) int64 {
	if s := os.Getenv("SPOOL_BENCH_BLOB_MIB"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("SPOOL_BENCH_BLOB_MIB=%q", s)
		}
		return n
	}
	return 16
}

// heapProbe samples the Go heap every 4 MiB of streamed data and keeps the
// peak growth over the heap at the start.
type heapProbe struct {
	base, peak, next uint64
	total            uint64 // TotalAlloc at start
	seen             int64
}

func newHeapProbe() *heapProbe {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return &heapProbe{base: ms.HeapAlloc, total: ms.TotalAlloc}
}

func (h *heapProbe) tick(n int) {
	h.seen += int64(n)
	if uint64(h.seen) < h.next {
		return
	}
	h.next = uint64(h.seen) + 4<<20
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > h.base && ms.HeapAlloc-h.base > h.peak {
		h.peak = ms.HeapAlloc - h.base
	}
}

// allocated returns the bytes allocated since the probe started.
func (h *heapProbe) allocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc - h.total
}

// genReader produces n bytes of a deterministic pattern, sampling the heap
// as it goes; it holds nothing.
type genReader struct {
	n, off int64
	probe  *heapProbe
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.off == g.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), g.n-g.off)]
	for i := range p {
		p[i] = byte((g.off + int64(i)) * 131 >> 7)
	}
	g.off += int64(len(p))
	g.probe.tick(len(p))
	return len(p), nil
}

// checkWriter verifies the pattern as it streams by, sampling the heap.
type checkWriter struct {
	off   int64
	probe *heapProbe
	bad   bool
}

func (c *checkWriter) Write(p []byte) (int, error) {
	for i, x := range p {
		if x != byte((c.off+int64(i))*131>>7) {
			c.bad = true
		}
	}
	c.off += int64(len(p))
	c.probe.tick(len(p))
	return len(p), nil
}

// BenchmarkBlob appends a SPOOL_BENCH_BLOB_MIB payload through BlobCodec
// (larger than a segment: it spans segments) and decodes it by streaming,
// reporting the peak Go heap growth on each side (peak-heap-MiB; the
// target is <= 4) and the bytes allocated per operation.
func BenchmarkBlob(b *testing.B) {
	size := blobMiB(b) << 20
	for _, p := range policies[:2] {
		b.Run(fmt.Sprintf("%dMiB/%s", size>>20, p.name), func(b *testing.B) {
			j, err := journal.Open(b.TempDir(), &journal.Options{Sync: journal.PageCache})
			if err != nil {
				b.Fatal(err)
			}
			defer j.Close()
			reg := newTestRegistry(b, p.opts)
			var appendPeak, decodePeak, appendAlloc, decodeAlloc uint64
			var appendTime, decodeTime time.Duration
			b.SetBytes(size)
			for b.Loop() {
				probe := newHeapProbe()
				start := time.Now()
				idx, err := codec.Append(j, reg, codec.Blob{Src: &genReader{n: size, probe: probe}, Size: size})
				if err != nil {
					b.Fatal(err)
				}
				appendTime += time.Since(start)
				appendPeak, appendAlloc = max(appendPeak, probe.peak), max(appendAlloc, probe.allocated())

				probe = newHeapProbe()
				start = time.Now()
				cw := &checkWriter{probe: probe}
				blob := codec.Blob{Dst: cw}
				if err := codec.Read(j, reg, idx, &blob); err != nil {
					b.Fatal(err)
				}
				decodeTime += time.Since(start)
				if cw.bad || blob.Size != size {
					b.Fatalf("blob differs: %d bytes", blob.Size)
				}
				decodePeak, decodeAlloc = max(decodePeak, probe.peak), max(decodeAlloc, probe.allocated())
				b.StopTimer()
				if err := j.TruncateFront(idx + 1); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(appendPeak)/(1<<20), "append-peak-heap-MiB")
			b.ReportMetric(float64(decodePeak)/(1<<20), "decode-peak-heap-MiB")
			b.ReportMetric(float64(appendAlloc), "append-alloc-B")
			b.ReportMetric(float64(decodeAlloc), "decode-alloc-B")
			b.ReportMetric(float64(size)/(1<<20)/appendTime.Seconds()*float64(b.N), "append-MiB/s")
			b.ReportMetric(float64(size)/(1<<20)/decodeTime.Seconds()*float64(b.N), "decode-MiB/s")
		})
	}
}

// lz4Payloads are the payloads BenchmarkLZ4 and BenchmarkDecompress use:
// log-like text (compressible) and random bytes (incompressible), 1 MiB.
func lz4Payloads() []struct {
	name string
	data []byte
} {
	rng := rand.New(rand.NewPCG(7, 7))
	text := make([]byte, 0, 1<<20)
	for len(text) < 1<<20 {
		text = fmt.Appendf(text, "2026-12-01T18:%02d:%02d.%06dZ INFO raft: appended entry index=%d term=%d size=%d\n",
			rng.IntN(60), rng.IntN(60), rng.IntN(1e6), rng.IntN(1e7), rng.IntN(9), rng.IntN(4096))
	}
	return []struct {
		name string
		data []byte
	}{
		{"compressible", text[:1<<20]},
		{"incompressible", payload(rng, 1<<20, false)},
	}
}

// memSink hands out one reusable buffer as 64 KiB windows, so that the
// LZ4 benchmarks measure compression, not the journal.
type memSink struct {
	buf []byte
	off int
	w   stream.Writer
}

func (m *memSink) NextWindow([]byte) ([]byte, error) {
	m.off += 64 << 10
	if m.off+64<<10 > len(m.buf) {
		m.buf = append(m.buf, make([]byte, 64<<10)...)
	}
	return m.buf[m.off : m.off+64<<10], nil
}

func (m *memSink) writer() *stream.Writer {
	m.off = 0
	if len(m.buf) < 64<<10 {
		m.buf = make([]byte, 64<<10, 4<<20)
	}
	m.w.Reset(m, m.buf[:64<<10])
	return &m.w
}

// BenchmarkLZ4 compresses 1 MiB payloads through a compressing registry
// (Bytes codec) and reports the ratio (uncompressed/compressed) and MB/s;
// the floor beside it is lz4.Compressor.CompressBlock on the same 64 KiB
// blocks into one buffer.
func BenchmarkLZ4(b *testing.B) {
	reg := newTestRegistry(b, codec.Options{Compression: codec.Compression{Enabled: true}})
	for _, p := range lz4Payloads() {
		b.Run("codec/"+p.name, func(b *testing.B) {
			var m memSink
			m.writer() // allocate the buffer before timing
			var n int64
			b.SetBytes(int64(len(p.data)))
			b.ReportAllocs()
			for b.Loop() {
				w := m.writer()
				if err := codec.Encode(reg, w, p.data); err != nil {
					b.Fatal(err)
				}
				n = w.Written()
			}
			b.ReportMetric(float64(len(p.data))/float64(n), "ratio")
		})
		b.Run("lz4-block/"+p.name, func(b *testing.B) {
			var c lz4.Compressor
			dst := make([]byte, lz4.CompressBlockBound(codec.BlockSize))
			var n int
			b.SetBytes(int64(len(p.data)))
			b.ReportAllocs()
			for b.Loop() {
				n = 0
				for off := 0; off < len(p.data); off += codec.BlockSize {
					k, err := c.CompressBlock(p.data[off:off+codec.BlockSize], dst)
					if err != nil {
						b.Fatal(err)
					}
					if k == 0 {
						k = codec.BlockSize
					}
					n += k + 4
				}
			}
			b.ReportMetric(float64(len(p.data))/float64(n), "ratio")
		})
	}
}

// BenchmarkDecompress decodes a compressed 1 MiB entry through the codec
// (envelope, blocks, stream.Reader windows, Bytes into a reused buffer)
// against lz4.UncompressBlock of the same blocks alone; the target is
// within 2x.
func BenchmarkDecompress(b *testing.B) {
	reg := newTestRegistry(b, codec.Options{Compression: codec.Compression{Enabled: true}})
	for _, p := range lz4Payloads() {
		var m memSink
		w := m.writer()
		must(b, codec.Encode(reg, w, p.data))
		entry := make([]byte, 0, w.Written())
		// Gather the windows the writer filled.
		for off := int64(0); off < w.Written(); off += 64 << 10 {
			entry = append(entry, m.buf[off:min(off+64<<10, w.Written())]...)
		}
		b.Run("codec/"+p.name, func(b *testing.B) {
			out := make([]byte, 0, len(p.data))
			var r stream.Reader
			b.SetBytes(int64(len(p.data)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(nil, entry, int64(len(entry)))
				if err := codec.Decode(reg, &r, &out); err != nil {
					b.Fatal(err)
				}
			}
			if len(out) != len(p.data) {
				b.Fatal("short")
			}
		})
		b.Run("lz4-block/"+p.name, func(b *testing.B) {
			h, err := reg.ReadHeader(stream.NewReader(nil, entry, int64(len(entry))))
			must(b, err)
			body := entry[3+len(appendUvarint(nil, uint64(h.RawLen))):]
			out := make([]byte, len(p.data))
			b.SetBytes(int64(len(p.data)))
			b.ReportAllocs()
			for b.Loop() {
				src, dst := body, out
				for len(src) > 0 {
					hdr := uint32(src[0]) | uint32(src[1])<<8 | uint32(src[2])<<16 | uint32(src[3])<<24
					n := int(hdr &^ (1 << 31))
					if hdr&(1<<31) != 0 {
						copy(dst, src[4:4+n])
					} else if _, err := lz4.UncompressBlock(src[4:4+n], dst[:codec.BlockSize]); err != nil {
						b.Fatal(err)
					}
					src, dst = src[4+n:], dst[codec.BlockSize:]
				}
			}
		})
	}
}
