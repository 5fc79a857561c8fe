//go:build linux

package hashicorp

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"golang.org/x/sys/unix"
)

// Benchmarks of the Store through the raft.LogStore interface, each with
// its floor in the same run where one exists (a raw write + fdatasync of
// the same bytes on a preallocated file; a copy of the bytes read):
//
//	go test -run='^$' -bench=. -benchmem -count=6 ./raftadapter/hashicorp/ | tee new.txt
//	benchstat new.txt
//
// The side-by-side comparison with raft-wal and raft-boltdb is the bench
// module's (bench/).

// benchLogs returns n entries of size bytes from index first, shaped as
// raft makes them (AppendedAt set, command type).
func benchLogs(first uint64, n, size int) []*raft.Log {
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + 3)
	}
	logs := make([]*raft.Log, n)
	now := time.Now()
	for i := range logs {
		logs[i] = &raft.Log{Index: first + uint64(i), Term: 3, Type: raft.LogCommand, Data: data, AppendedAt: now}
	}
	return logs
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}

// latencies runs op b.N times and reports its median and 99th percentile.
func latencies(b *testing.B, op func()) {
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		op()
		d = append(d, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
}

var storeLogsCases = []struct {
	n, size int
	noSync  bool
}{
	{64, 128, false},
	{64, 128, true},
	{1, 1024, false},
	{4, 256 << 10, false},
}

// BenchmarkStoreLogs stores batches of entries through raft.LogStore, one
// call per batch (durable: one sync per call; NoSync: readable only).
// Every 64 MiB the log is compacted (outside the timing), as raft would.
func BenchmarkStoreLogs(b *testing.B) {
	for _, tc := range storeLogsCases {
		name := fmt.Sprintf("%dx%s", tc.n, sizeName(tc.size))
		if tc.noSync {
			name += "/NoSync"
		} else {
			name += "/durable"
		}
		b.Run(name, func(b *testing.B) {
			s := openStore(b, b.TempDir(), &Options{JournalOptions: JournalOptions{NoSync: tc.noSync}})
			var store raft.LogStore = s
			logs := benchLogs(1, tc.n, tc.size)
			var written int64
			b.SetBytes(int64(tc.n * tc.size))
			b.ReportAllocs()
			latencies(b, func() {
				if err := store.StoreLogs(logs); err != nil {
					b.Fatal(err)
				}
				for _, l := range logs {
					l.Index += uint64(tc.n)
				}
				if written += int64(tc.n * tc.size); written >= 64<<20 {
					b.StopTimer()
					if err := store.DeleteRange(0, logs[0].Index-1-uint64(tc.n)); err != nil {
						b.Fatal(err)
					}
					written = 0
					b.StartTimer()
				}
			})
		})
	}
}

// BenchmarkStoreLogsFloor is the floor of a durable StoreLogs: the same
// bytes written in place into a preallocated file, then fdatasync.
func BenchmarkStoreLogsFloor(b *testing.B) {
	for _, tc := range storeLogsCases {
		if tc.noSync {
			continue
		}
		b.Run(fmt.Sprintf("%dx%s", tc.n, sizeName(tc.size)), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "floor"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			const size = 64 << 20
			if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
				b.Fatal(err)
			}
			_ = f.Sync()
			p := bytes.Repeat([]byte{0x5a}, tc.n*tc.size)
			off := int64(0)
			b.SetBytes(int64(len(p)))
			latencies(b, func() {
				if off+int64(len(p)) > size {
					off = 0
				}
				if _, err := f.WriteAt(p, off); err != nil {
					b.Fatal(err)
				}
				if err := unix.Fdatasync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
				off += int64(len(p))
			})
		})
	}
}

// BenchmarkGetLog reads random entries of a 64 MiB log through
// raft.LogStore: a pinned, checksum-verified read of the mapped pages and
// one allocation for Data (see TestGetLogAllocs). Floor: bytes.Clone of
// the same number of bytes.
func BenchmarkGetLog(b *testing.B) {
	for _, size := range []int{128, 1024, 64 << 10} {
		b.Run(sizeName(size), func(b *testing.B) {
			s := openStore(b, b.TempDir(), &Options{JournalOptions: JournalOptions{NoSync: true}})
			var store raft.LogStore = s
			n := (64 << 20) / (size + 32)
			for first := 1; first <= n; first += 1024 {
				if err := store.StoreLogs(benchLogs(uint64(first), min(1024, n-first+1), size)); err != nil {
					b.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			var l raft.Log
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := store.GetLog(1+rng.Uint64N(uint64(n)), &l); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(sizeName(size)+"/Floor", func(b *testing.B) {
			p := make([]byte, size)
			var out []byte
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				out = bytes.Clone(p)
			}
			_ = out
		})
	}
}

// BenchmarkDeleteRange: compaction (a prefix of 1000 entries of 128 B)
// and a conflicting tail (a suffix of 10), each durable when it returns.
// The entries are stored outside the timing.
func BenchmarkDeleteRange(b *testing.B) {
	b.Run("prefix1000", func(b *testing.B) {
		s := openStore(b, b.TempDir(), &Options{JournalOptions: JournalOptions{NoSync: true}})
		var store raft.LogStore = s
		next := uint64(1)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			if err := store.StoreLogs(benchLogs(next, 1000, 128)); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := store.DeleteRange(next, next+999); err != nil {
				b.Fatal(err)
			}
			next += 1000
		}
	})
	b.Run("suffix10", func(b *testing.B) {
		s := openStore(b, b.TempDir(), &Options{JournalOptions: JournalOptions{NoSync: true}})
		var store raft.LogStore = s
		if err := store.StoreLogs(benchLogs(1, 100, 128)); err != nil {
			b.Fatal(err)
		}
		more := benchLogs(101, 10, 128)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			if err := store.StoreLogs(more); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := store.DeleteRange(101, 110); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReopen closes and reopens a store holding 64 MiB of 1 KiB
// entries (clean), and opens a copy of it taken while it was open (after
// a crash: the tail segment is scanned), then reads its last entry.
func BenchmarkReopen(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir, &Options{JournalOptions: JournalOptions{NoSync: true}})
	if err != nil {
		b.Fatal(err)
	}
	const n = (64 << 20) / 1024
	for first := 1; first <= n; first += 1024 {
		if err := s.StoreLogs(benchLogs(uint64(first), 1024, 1024)); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.j.Sync(); err != nil {
		b.Fatal(err)
	}
	crashed := b.TempDir()
	copyDir(b, dir, crashed)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	check := func(s *Store) {
		var l raft.Log
		if last, err := s.LastIndex(); err != nil || last != n {
			b.Fatalf("last index %d, %v", last, err)
		}
		if err := s.GetLog(n, &l); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("clean", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, err := Open(dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			check(s)
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("crash", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			b.StopTimer()
			img := filepath.Join(b.TempDir(), "img")
			copyDir(b, crashed, img)
			b.StartTimer()
			s, err := Open(img, nil)
			if err != nil {
				b.Fatal(err)
			}
			check(s)
			b.StopTimer()
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			_ = os.RemoveAll(img)
			b.StartTimer()
		}
	})
}
