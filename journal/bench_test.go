//go:build linux

package journal

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spoolhq/spool/mmapio"
	"github.com/spoolhq/spool/stream"
	"github.com/zeebo/xxh3"
	"golang.org/x/sys/unix"
)

// Benchmarks come in pairs: the journal's operation and the floor of the
// same work measured in the same run (copying and hashing the bytes, a raw
// write+fdatasync), so results read as ratios. Run:
//
//	go test -run='^$' -bench=. -benchmem -count=6 ./journal/ | tee new.txt
//	benchstat new.txt

var sink uint64

func benchSizes() []int { return []int{128, 4 << 10, 1 << 20} }

func sizeName(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// BenchmarkAppend appends entries in page-cache mode (no sync), the cost of
// framing, checksumming and copying into mapped pages.
func BenchmarkAppend(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(sizeName(n), func(b *testing.B) {
			j := mustOpen(b, b.TempDir(), &Options{Sync: PageCache})
			defer closeOK(b, j)
			p := payload(1, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := j.AppendBytes(p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRoll appends 4 KiB entries in page-cache mode over many 64 MiB
// segments and reports the latency of the appends that rolled to a new
// segment (roll-p50-ns) and the worst append (max-ns). "spare" is the
// default: the next segment file is prepared in the background once the
// active one is half full. "inline" prepares it on the append path, as
// tests on the crashable FS do, so that stall comes at the half-way append
// instead of at the roll. "off" has each roll create its own file, as
// before spares: its roll-p50-ns is the cost they remove.
func BenchmarkRoll(b *testing.B) {
	for _, mode := range []spareMode{spareBackground, spareInline, spareOff} {
		b.Run([]string{"spare", "inline", "off"}[mode], func(b *testing.B) {
			j := mustOpen(b, b.TempDir(), &Options{Sync: PageCache, spare: mode})
			defer closeOK(b, j)
			p := payload(1, 4<<10)
			var rolls []time.Duration
			var worst time.Duration
			var seg *segment
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				t0 := time.Now()
				if _, err := j.AppendBytes(p); err != nil {
					b.Fatal(err)
				}
				d := time.Since(t0)
				worst = max(worst, d)
				if s := j.active; s != seg { // read by the only appender
					if seg != nil {
						rolls = append(rolls, d)
					}
					seg = s
				}
			}
			b.StopTimer()
			if len(rolls) > 0 {
				slices.Sort(rolls)
				b.ReportMetric(float64(rolls[len(rolls)/2].Nanoseconds()), "roll-p50-ns")
			}
			b.ReportMetric(float64(worst.Nanoseconds()), "max-ns")
		})
	}
}

// BenchmarkAppendFloor is the floor of BenchmarkAppend: copy the bytes
// into a large buffer (as into a mapped page) and hash them with xxh3.
func BenchmarkAppendFloor(b *testing.B) {
	for _, n := range benchSizes() {
		b.Run(sizeName(n), func(b *testing.B) {
			p := payload(1, n)
			dst := make([]byte, 64<<20)
			off := 0
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if off+n > len(dst) {
					off = 0
				}
				copy(dst[off:], p)
				sink += xxh3.Hash(dst[off : off+n])
				off += n
			}
		})
	}
}

// BenchmarkFreshPageFloor is the machine's floor for writing fresh pages of
// a shared file mapping, which every append into a new segment pays: copy
// pieces of 128 B and 4 KiB into 64 MiB fallocated files, mapped shared,
// each range faulted in with MADV_POPULATE_WRITE first (the journal's
// prefaulter does the same from another goroutine), and hash each piece
// with xxh3 as an append does, in one goroutine. On the CI VM making a
// fresh page writable costs about 1 µs (page allocation, zeroing, block
// mapping), which caps fresh-page writes near 4 GB/s however the copy is
// done: BenchmarkAppend reads against this as well as against
// BenchmarkAppendFloor (hot memory) and BenchmarkMemcpy.
func BenchmarkFreshPageFloor(b *testing.B) {
	for _, piece := range []int{128, 4 << 10} {
		b.Run(sizeName(piece), func(b *testing.B) { freshPageFloor(b, piece) })
	}
}

func freshPageFloor(b *testing.B, piece int) {
	const segSize, step = 64 << 20, 512 << 10
	dir := b.TempDir()
	p := payload(3, piece)
	var (
		f    mmapio.File
		mm   mmapio.Mapping
		data []byte
		off  = segSize
		seq  int
	)
	closeSeg := func() {
		if mm != nil {
			_ = mm.Unmap()
			_ = f.Close()
		}
	}
	defer closeSeg()
	b.SetBytes(int64(piece))
	b.ReportAllocs()
	for b.Loop() {
		if off+piece > segSize {
			closeSeg()
			var err error
			name := filepath.Join(dir, strconv.Itoa(seq))
			seq++
			if f, err = mmapio.OS.Create(name); err != nil {
				b.Fatal(err)
			}
			_ = mmapio.OS.Remove(name) // space returns at Close
			if err = f.Allocate(segSize); err != nil {
				b.Fatal(err)
			}
			if mm, err = f.Map(0, segSize, true); err != nil {
				b.Fatal(err)
			}
			data, off = mm.Bytes(), 0
		}
		if off%step == 0 {
			_ = mm.Advise(off, step, mmapio.AdviseWillWrite)
		}
		copy(data[off:], p)
		sink += xxh3.Hash(data[off : off+piece])
		off += piece
	}
}

// BenchmarkMemcpy measures memory copy bandwidth in the same run.
func BenchmarkMemcpy(b *testing.B) {
	src := payload(2, 64<<20)
	dst := make([]byte, len(src))
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		copy(dst, src)
	}
}

// latencies runs op b.N times and reports the median and p99 latency.
func latencies(b *testing.B, op func()) {
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		op()
		d = append(d, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkDurableAppend1KiB appends one 1 KiB entry per call with SyncEach.
func BenchmarkDurableAppend1KiB(b *testing.B) {
	j := mustOpen(b, b.TempDir(), &Options{Sync: SyncEach})
	defer closeOK(b, j)
	p := payload(3, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	latencies(b, func() {
		if _, err := j.AppendBytes(p); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkDurableFloor4KiB is a raw 4 KiB in-place write plus fdatasync on
// a preallocated file: the floor of a durable append.
func BenchmarkDurableFloor4KiB(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "floor"))
	if err != nil {
		b.Fatal(err)
	}
	defer closeOK(b, f)
	const size = 64 << 20
	if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatalf("Sync %s: %v", f.Name(), err)
	}
	p := payload(4, 4096)
	off := int64(0)
	b.SetBytes(4096)
	latencies(b, func() {
		if _, err := f.WriteAt(p, off); err != nil {
			b.Fatal(err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		off = (off + 4096) % size
	})
}

// BenchmarkGroupCommit appends 1 KiB durable entries (SyncEach) from a
// number of goroutines and reports entries per second.
func BenchmarkGroupCommit(b *testing.B) {
	for _, g := range []int{1, 64} {
		b.Run(strconv.Itoa(g), func(b *testing.B) {
			j := mustOpen(b, b.TempDir(), &Options{Sync: SyncEach})
			defer closeOK(b, j)
			p := payload(5, 1024)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			t0 := time.Now()
			for range g {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if _, err := j.AppendBytes(p); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "entries/s")
		})
	}
}

// BenchmarkGroupCommitFloor is the disk's ceiling for BenchmarkGroupCommit:
// one goroutine writes n KiB into a fallocated, mapped file and msyncs that
// range, over and over, and reports entries/s as if each KiB were a 1 KiB
// entry. With one sync in flight (concurrent msyncs of one file do not
// overlap on the CI disk), 64 appenders can reach at most the 64KiB
// figure, and one appender the 1KiB figure: their ratio bounds the group
// commit speed-up.
func BenchmarkGroupCommitFloor(b *testing.B) {
	for _, kib := range []int{1, 64} {
		b.Run(strconv.Itoa(kib)+"KiB", func(b *testing.B) {
			const size = 256 << 20
			f, err := mmapio.OS.Create(filepath.Join(b.TempDir(), "floor"))
			if err != nil {
				b.Fatal(err)
			}
			defer closeOK(b, f)
			if err := f.Allocate(size); err != nil {
				b.Fatal(err)
			}
			mm, err := f.Map(0, size, true)
			if err != nil {
				b.Fatal(err)
			}
			defer func() {
				if err := mm.Unmap(); err != nil {
					b.Errorf("Unmap: %v", err)
				}
			}()
			data, p := mm.Bytes(), payload(6, kib<<10)
			page := mmapio.PageSize()
			off := 0
			b.ResetTimer()
			t0 := time.Now()
			for b.Loop() {
				if off+len(p) > size {
					off = 0
				}
				copy(data[off:], p)
				from := off &^ (page - 1)
				if err := mm.Sync(from, off+len(p)-from); err != nil {
					b.Fatal(err)
				}
				off += len(p)
			}
			b.ReportMetric(float64(b.N*kib)/time.Since(t0).Seconds(), "entries/s")
		})
	}
}

// BenchmarkSequentialRead iterates 4 KiB entries, verifying each checksum,
// and touches the payload (sums its first word).
func BenchmarkSequentialRead(b *testing.B) {
	j := mustOpen(b, b.TempDir(), &Options{Sync: PageCache})
	defer closeOK(b, j)
	const n = 16384 // 64 MiB
	p := payload(6, 4096)
	for range n {
		mustAppend(b, j, p)
	}
	b.SetBytes(4096)
	b.ReportAllocs()
	b.ResetTimer()
	it := j.Iter(1)
	for b.Loop() {
		if !it.Next() {
			if err := it.Close(); err != nil {
				b.Fatalf("Iterator.Close at the end of the journal: %v", err)
			}
			it = j.Iter(1)
			it.Next()
		}
		v, _ := it.Bytes()
		sink += uint64(v[0])
	}
	if err := it.Close(); err != nil {
		b.Fatalf("Iterator.Close: %v", err)
	}
}

// BenchmarkRead reads 128 B entries by index through Read (zero-copy,
// pooled view).
func BenchmarkRead(b *testing.B) {
	j := mustOpen(b, b.TempDir(), &Options{Sync: PageCache})
	defer closeOK(b, j)
	p := payload(7, 128)
	for range 10000 {
		mustAppend(b, j, p)
	}
	fn := func(r *stream.Reader) error { sink += uint64(r.Uint8()); return nil }
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		i = i%10000 + 1
		if err := j.Read(i, fn); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen reopens a cleanly closed journal of 4 KiB entries, with the
// page cache of its files dropped first (posix_fadvise DONTNEED: cold where
// the kernel honours it). Sizes: SPOOL_BENCH_OPEN_MIB (comma-separated MiB,
// default "256,1024"; add 4096 for the 4 GiB point).
func BenchmarkOpen(b *testing.B) {
	sizes := os.Getenv("SPOOL_BENCH_OPEN_MIB")
	if sizes == "" {
		sizes = "256,1024"
	}
	for _, s := range strings.Split(sizes, ",") {
		mib, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("%dMiB", mib), func(b *testing.B) {
			dir := b.TempDir()
			j := mustOpen(b, dir, &Options{Sync: PageCache})
			p := payload(8, 4096)
			for range mib * 256 {
				if _, err := j.AppendBytes(p); err != nil {
					b.Fatal(err)
				}
			}
			if err := j.Close(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				dropCache(b, dir)
				b.StartTimer()
				j, err := Open(dir, &Options{Sync: PageCache})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				mustClose(b, j)
				b.StartTimer()
			}
		})
	}
}

func dropCache(b testing.TB, dir string) {
	names, err := os.ReadDir(dir)
	if err != nil {
		b.Fatalf("ReadDir %s: %v", dir, err)
	}
	for _, n := range names {
		f, err := os.Open(filepath.Join(dir, n.Name()))
		if err != nil {
			continue
		}
		_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		if err := f.Close(); err != nil {
			b.Fatalf("Close %s: %v", f.Name(), err)
		}
	}
}
