//go:build linux

package journal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkDurableShapes times SyncEach appends of the three durable shapes
// of issue 14, each call followed by a floor of the same kind in the same
// directory (so that both see the same machine state):
//
//   - 64x128B: 64 entries of 128 B per call; floor: 4 KiB written in place
//     into written blocks, then fdatasync.
//   - 1x1KiB: one 1 KiB entry per call; the same floor.
//   - 4x256KiB: 4 entries of 256 KiB per call; floor: the same 1 MiB
//     appended with pwrite into reserved blocks, then fdatasync (the
//     sequential-write ceiling).
//
// The timed calls start past the first 40 MiB of the log, where a
// long-running log writes (a fresh segment's first megabytes are faster for
// small calls: docs/decisions.md, "Durable writes through the mapping").
// Reported: p50-µs and p99-µs of the call, floor-p50-µs and floor-p99-µs,
// x-floor-p50, and disk-B/call, the bytes the device holding the
// directory wrote per call (device-wide, so other writers add to it; run
// on a quiet machine):
//
//	go test -run='^$' -bench=DurableShapes -benchtime=400x -count=5 ./journal/
func BenchmarkDurableShapes(b *testing.B) {
	shapes := []struct {
		name    string
		entries int
		size    int
		floor   func(fl *durableFloor, n int) error
	}{
		{"64x128B", 64, 128, (*durableFloor).inPlace},
		{"1x1KiB", 1, 1 << 10, (*durableFloor).inPlace},
		{"4x256KiB", 4, 256 << 10, (*durableFloor).appendSeq},
	}
	for _, sh := range shapes {
		b.Run(sh.name, func(b *testing.B) {
			dir := b.TempDir()
			j := mustOpen(b, filepath.Join(dir, "journal"), &Options{Sync: SyncEach})
			defer closeOK(b, j)
			fl := openDurableFloor(b, dir)
			p := bytes.Repeat([]byte{0xa5}, sh.size)
			call := func() {
				if _, _, err := j.AppendBatch(func(bt *Batch) error {
					for range sh.entries {
						if _, err := bt.AppendBytes(p); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			perCall := sh.entries * sh.size
			for written := 0; written < 40<<20; written += perCall {
				call()
			}
			calls := make([]time.Duration, 0, b.N)
			floors := make([]time.Duration, 0, b.N)
			disk0 := deviceWrittenBytes(dir)
			var inCalls time.Duration
			b.SetBytes(int64(perCall))
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				call()
				t1 := time.Now()
				b.StopTimer()
				if err := sh.floor(fl, perCall); err != nil {
					b.Fatal(err)
				}
				floors = append(floors, time.Since(t1))
				b.StartTimer()
				calls = append(calls, t1.Sub(t0))
				inCalls += t1.Sub(t0)
			}
			b.StopTimer()
			disk := deviceWrittenBytes(dir) - disk0
			slices.Sort(calls)
			slices.Sort(floors)
			at := func(d []time.Duration, q float64) float64 {
				return float64(d[min(int(q*float64(len(d))), len(d)-1)]) / float64(time.Microsecond)
			}
			b.ReportMetric(at(calls, 0.5), "p50-µs")
			b.ReportMetric(at(calls, 0.99), "p99-µs")
			b.ReportMetric(at(floors, 0.5), "floor-p50-µs")
			b.ReportMetric(at(floors, 0.99), "floor-p99-µs")
			b.ReportMetric(at(calls, 0.5)/at(floors, 0.5), "x-floor-p50")
			b.ReportMetric(float64(sh.entries)*float64(len(calls))/inCalls.Seconds(), "entries/s")
			if disk0 >= 0 && disk >= 0 {
				// The floors write too: subtract what they asked for.
				b.ReportMetric(float64(disk-fl.written)/float64(len(calls)), "disk-B/call")
			}
		})
	}
}

// durableFloor is the floor file of BenchmarkDurableShapes.
type durableFloor struct {
	inplace *os.File // written blocks, rewritten in place
	seq     *os.File // reserved blocks, appended to
	seqOff  int64
	buf     []byte
	written int64 // bytes the floors wrote
}

const durableSeqSize = 512 << 20

func openDurableFloor(b *testing.B, dir string) *durableFloor {
	fl := &durableFloor{buf: bytes.Repeat([]byte{0x5a}, 1<<20)}
	var err error
	if fl.inplace, err = os.OpenFile(filepath.Join(dir, "floor-inplace"), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600); err != nil {
		b.Fatal(err)
	}
	if _, err := fl.inplace.WriteAt(fl.buf[:4096], 0); err != nil {
		b.Fatal(err)
	}
	if fl.seq, err = os.OpenFile(filepath.Join(dir, "floor-seq"), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := unix.Fallocate(int(fl.seq.Fd()), 0, 0, durableSeqSize); err != nil {
		b.Fatal(err)
	}
	for _, f := range []*os.File{fl.inplace, fl.seq} {
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = f.Close() }) // in b.TempDir: nothing reads it back
	}
	return fl
}

// inPlace rewrites the floor's first 4 KiB and syncs (n is ignored: the
// floor is one written block's rewrite).
func (fl *durableFloor) inPlace(int) error {
	if _, err := fl.inplace.WriteAt(fl.buf[:4096], 0); err != nil {
		return err
	}
	fl.written += 4096
	return unix.Fdatasync(int(fl.inplace.Fd()))
}

// appendSeq appends n bytes into reserved blocks and syncs, wrapping at
// the end of the reservation.
func (fl *durableFloor) appendSeq(n int) error {
	if fl.seqOff+int64(n) > durableSeqSize {
		fl.seqOff = 0
	}
	if _, err := fl.seq.WriteAt(fl.buf[:n], fl.seqOff); err != nil {
		return err
	}
	fl.seqOff += int64(n)
	fl.written += int64(n)
	return unix.Fdatasync(int(fl.seq.Fd()))
}

// deviceWrittenBytes returns the bytes written so far by the block device
// holding dir (its /sys/dev/block stat), or -1 where it cannot be read.
func deviceWrittenBytes(dir string) int64 {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return -1
	}
	path := fmt.Sprintf("/sys/dev/block/%d:%d/stat", unix.Major(st.Dev), unix.Minor(st.Dev))
	raw, err := os.ReadFile(path)
	if err != nil {
		return -1
	}
	f := strings.Fields(string(raw))
	if len(f) < 7 {
		return -1
	}
	sectors, err := strconv.ParseInt(f[6], 10, 64)
	if err != nil {
		return -1
	}
	return sectors * 512
}
