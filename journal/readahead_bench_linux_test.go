//go:build linux

package journal

import (
	"math/rand/v2"
	"testing"

	"github.com/spoolhq/spool/stream"
)

// BenchmarkColdRead measures what reads of a cold log (closed, its
// files' pages dropped with POSIX_FADV_DONTNEED, reopened: all outside the
// timer) cost in time and in bytes read from storage (read-KiB/op, from
// /proc/self/io; 0 where reads are not accounted, as on tmpfs):
//
//   - prefix/{cold,warm}: the first 64 bytes of 16 MiB entries, as
//     BenchmarkReadPrefix (8 entries, 64 MiB segments).
//   - whole/cold: ReadBytes of those 16 MiB entries.
//   - replay/cold: an Iterator over every entry of a log of 1 KiB entries
//     (SPOOL_BENCH_COLD_MIB, default 128 MiB; 64 MiB segments), touching
//     each payload; one op is the whole replay (MB/s is the replay's rate).
//   - get1KiB/cold: Read of a random 1 KiB entry of that log, the cache
//     dropped every 2000 reads.
//
// The segments are sealed, so each of them is mapped as a reader finds it
// (MADV_RANDOM, readahead.go); the cold figures depend on the disk and on
// its read_ahead_kb.
//
//	go test -run='^$' -bench=BenchmarkColdRead -count=5 ./journal/ | tee cold.txt
//	benchstat cold.txt
func BenchmarkColdRead(b *testing.B) {
	io := func(b *testing.B) int64 {
		n, _ := ioReadBytes(b)
		return n
	}
	report := func(b *testing.B, read int64, ops int) {
		b.ReportMetric(float64(read)/1024/float64(max(ops, 1)), "read-KiB/op")
	}
	opts := &Options{Sync: PageCache, MaxEntrySize: 32 << 20, spare: spareOff}

	big := b.TempDir()
	const bigSize, nbig = 16 << 20, 8
	j := mustOpen(b, big, opts)
	for i := uint64(1); i <= nbig; i++ {
		if _, err := j.AppendBytes(payload(i, bigSize)); err != nil {
			b.Fatal(err)
		}
	}
	mustAppend(b, j, []byte("last"))
	mustClose(b, j)

	var got [64]byte
	prefix := func(j *Journal, idx uint64) error {
		return j.Read(idx, func(r *stream.Reader) error {
			p, err := r.Next(len(got))
			copy(got[:], p)
			return err
		})
	}
	var buf []byte
	whole := func(j *Journal, idx uint64) error {
		var err error
		buf, err = j.ReadBytes(idx, buf[:0])
		return err
	}
	for _, c := range []struct {
		name string
		cold bool
		read func(*Journal, uint64) error
		size int64
	}{{"prefix/warm", false, prefix, 64}, {"prefix/cold", true, prefix, 64}, {"whole/cold", true, whole, bigSize}} {
		b.Run(c.name, func(b *testing.B) {
			j := mustOpen(b, big, opts)
			defer func() { closeOK(b, j) }()
			if !c.cold {
				for i := uint64(1); i <= nbig; i++ {
					if _, err := j.ReadBytes(i, nil); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.SetBytes(c.size)
			b.ReportAllocs()
			i, skip, ops := uint64(0), int64(0), 0
			if c.cold {
				i = nbig
			}
			b.ResetTimer()
			r0 := io(b)
			for b.Loop() {
				if i == nbig {
					i = 0
					if c.cold {
						b.StopTimer()
						x := io(b)
						mustClose(b, j)
						dropCache(b, big)
						j = mustOpen(b, big, opts)
						skip += io(b) - x
						b.StartTimer()
					}
				}
				i++
				if err := c.read(j, i); err != nil {
					b.Fatal(err)
				}
				ops++
			}
			report(b, io(b)-r0-skip, ops)
		})
	}

	small := b.TempDir()
	logMiB := envInt("SPOOL_BENCH_COLD_MIB", 128)
	const entry = 1 << 10
	j = mustOpen(b, small, opts)
	n := fillLog(b, j, payload(3, entry), int64(logMiB)<<20)
	mustAppend(b, j, []byte("last")) // the log's 1 KiB entries all lie in sealed segments
	mustClose(b, j)

	for _, cold := range []bool{false, true} {
		name := "replay/warm"
		if cold {
			name = "replay/cold"
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(n * entry))
			var sink byte
			skip := int64(0)
			r0 := io(b)
			for b.Loop() {
				b.StopTimer()
				x := io(b)
				if cold {
					dropCache(b, small)
				}
				j := mustOpen(b, small, opts)
				skip += io(b) - x
				b.StartTimer()
				it := j.Iter(1)
				for k := uint64(0); k < n && it.Next(); k++ {
					v, _ := it.Bytes()
					sink ^= v[len(v)-1]
				}
				if err := it.Err(); err != nil {
					b.Fatal(err)
				}
				closeOK(b, it)
				b.StopTimer()
				mustClose(b, j)
				b.StartTimer()
			}
			_ = sink
			report(b, io(b)-r0-skip, b.N)
		})
	}
	b.Run("get1KiB/cold", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		var sink byte
		fn := func(r *stream.Reader) error {
			p, err := r.Next(entry)
			if err == nil {
				sink ^= p[entry-1]
			}
			return err
		}
		j := mustOpen(b, small, opts)
		defer func() { closeOK(b, j) }()
		b.SetBytes(entry)
		b.ReportAllocs()
		skip, ops := int64(0), 0
		r0 := io(b)
		for b.Loop() {
			if ops%2000 == 0 {
				b.StopTimer()
				x := io(b)
				mustClose(b, j)
				dropCache(b, small)
				j = mustOpen(b, small, opts)
				skip += io(b) - x
				b.StartTimer()
			}
			if err := j.Read(1+rng.Uint64N(n), fn); err != nil {
				b.Fatal(err)
			}
			ops++
		}
		_ = sink
		report(b, io(b)-r0-skip, ops)
	})
}
