//go:build linux

package journal

import (
	"testing"

	"github.com/spoolhq/spool/stream"
)

// BenchmarkReadPrefix reads the first 64 bytes of 16 MiB entries (8 of
// them, in 64 MiB segments, on the test's temporary directory), in four
// variants; b.SetBytes(64) in all, so MB/s is the rate of useful bytes:
//
//   - prefix: Read and r.Next(64). In format 3 that verifies the entry's
//     block sums (8 KiB) and its first block (16 KiB); in format 2 the
//     whole entry was hashed before the first byte was handed out.
//   - whole: Get, Bytes (every block verified) and 64 bytes of it: the
//     cost of the read before format 3, measured in the same run.
//
// warm: the pages are in the page cache and mapped (every entry was read
// before the timer started). cold: before the first read of every pass
// over the entries the journal is closed (so no page of its files is
// mapped), every file's cached pages are dropped with posix_fadvise
// POSIX_FADV_DONTNEED (they are clean: Close synced them), and the journal
// is reopened, all with the timer stopped; each read then faults its pages
// in from the device, with the kernel's read-around (the device's
// read_ahead_kb), so cold figures depend on the disk and on that setting.
// Open reads each segment's header and trailer and the small last entry
// with pread, which the timer does not count either. The spare maker is
// off, so that no background preparation of a segment file competes with
// the reads for the device.
//
//	go test -run='^$' -bench=BenchmarkReadPrefix -count=5 ./journal/ | tee prefix.txt
//	benchstat prefix.txt
func BenchmarkReadPrefix(b *testing.B) {
	const size, n = 16 << 20, 8
	dir := b.TempDir()
	opts := &Options{Sync: PageCache, MaxEntrySize: 32 << 20, spare: spareOff}
	j := mustOpen(b, dir, opts)
	for i := uint64(1); i <= n; i++ {
		if _, err := j.AppendBytes(payload(i, size)); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := j.AppendBytes([]byte("last")); err != nil {
		b.Fatal(err)
	}
	mustClose(b, j)

	var got [64]byte
	prefix := func(j *Journal, idx uint64) error {
		return j.Read(idx, func(r *stream.Reader) error {
			p, err := r.Next(len(got))
			copy(got[:], p)
			return err
		})
	}
	whole := func(j *Journal, idx uint64) error {
		v, err := j.Get(idx)
		if err != nil {
			return err
		}
		p, ok := v.Bytes()
		if ok {
			copy(got[:], p)
		}
		v.Release()
		if !ok {
			b.Fatalf("entry %d: Bytes refused", idx)
		}
		return nil
	}
	for _, temp := range []string{"warm", "cold"} {
		for _, way := range []struct {
			name string
			read func(*Journal, uint64) error
		}{{"prefix", prefix}, {"whole", whole}} {
			b.Run(temp+"/"+way.name, func(b *testing.B) {
				j := mustOpen(b, dir, opts)
				defer func() { closeOK(b, j) }()
				if temp == "warm" {
					for i := uint64(1); i <= n; i++ {
						if _, err := j.ReadBytes(i, nil); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.SetBytes(int64(len(got)))
				b.ReportAllocs()
				b.ResetTimer()
				i := uint64(0)
				if temp == "cold" {
					i = n // drop the cache before the first read
				}
				for b.Loop() {
					if i == n {
						i = 0
						if temp == "cold" {
							b.StopTimer()
							mustClose(b, j)
							dropCache(b, dir)
							j = mustOpen(b, dir, opts)
							b.StartTimer()
						}
					}
					i++
					if err := way.read(j, i); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
