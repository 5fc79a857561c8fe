package journal

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/spoolhq/spool/stream"
)

// BenchmarkReplayLongLog reads a log of many segments
// (SPOOL_BENCH_REPLAY_SEGMENTS, default 200, of SPOOL_BENCH_REPLAY_SEG_KIB,
// default 256 KiB, each; entries of 4 KiB) with the mapped-segment
// cap at its default and without it: a full replay by an Iterator, and
// random Gets. Besides throughput it reports the most sealed segments
// mapped and, on Linux, the most segment descriptors the process held
// (sampled every 64 reads), and the reloads per operation.
func BenchmarkReplayLongLog(b *testing.B) {
	nsegs := envInt("SPOOL_BENCH_REPLAY_SEGMENTS", 200)
	segSize := int64(envInt("SPOOL_BENCH_REPLAY_SEG_KIB", 256)) << 10
	const entry = 4 << 10
	dir := b.TempDir()
	o := &Options{SegmentSize: segSize, Sync: PageCache}
	j := mustOpen(b, dir, o)
	buf := make([]byte, entry)
	var last uint64
	for len(j.segs.Load().segs) <= nsegs {
		var err error
		if last, err = j.AppendBytes(buf); err != nil {
			b.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"replay", "random"} {
		for _, limit := range []int{DefaultMaxOpenSegments, -1} {
			name := fmt.Sprintf("%s/cap=%d", mode, limit)
			if limit < 0 {
				name = mode + "/cap=none"
			}
			b.Run(name, func(b *testing.B) {
				oo := *o
				oo.MaxOpenSegments = limit
				j := mustOpen(b, dir, &oo)
				defer j.Close()
				maxMapped, maxFDs := 0, 0
				sample := func() {
					maxMapped = max(maxMapped, j.mappedDuringReads())
					if fds, _, ok := procSegments(b, dir); ok {
						maxFDs = max(maxFDs, fds)
					}
				}
				r := rand.New(rand.NewPCG(1, 2))
				var sink byte
				reads := 0
				b.ResetTimer()
				for b.Loop() {
					if mode == "replay" {
						it := j.Iter(1)
						for it.Next() {
							p, _ := it.Bytes()
							sink += p[len(p)-1]
							if reads++; reads%64 == 0 {
								b.StopTimer()
								sample()
								b.StartTimer()
							}
						}
						if err := it.Err(); err != nil {
							b.Fatal(err)
						}
						_ = it.Close()
						continue
					}
					for range 1024 {
						i := 1 + r.Uint64N(last)
						if err := j.Read(i, func(rd *stream.Reader) error {
							if p := rd.Buffered(); len(p) > 0 {
								sink += p[len(p)-1]
							}
							return nil
						}); err != nil {
							b.Fatal(err)
						}
						if reads++; reads%64 == 0 {
							b.StopTimer()
							sample()
							b.StartTimer()
						}
					}
				}
				_ = sink
				if mode == "replay" {
					b.SetBytes(int64(last) * entry)
				} else {
					b.SetBytes(1024 * entry)
				}
				b.ReportMetric(float64(maxMapped), "mapped-segs")
				b.ReportMetric(float64(maxFDs), "seg-fds")
				b.ReportMetric(float64(j.bound.reloads.Load())/float64(b.N), "reloads/op")
			})
		}
	}
}
