//go:build linux

package hashicorp

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"golang.org/x/sys/unix"
)

// getLogSink keeps the floor's copies from being optimised away.
var getLogSink byte

// randCopyNs is the time of one 1 KiB copy from a random offset of a
// cached, mapped file of size bytes into a reused buffer, offsets drawn
// beforehand (the bench suite's randcopy_ns, bench/machine/randcopy.go),
// the best of three passes.
func randCopyNs(b *testing.B, size int64) float64 {
	const n, sz = 1 << 21, 1 << 10
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "randcopy"), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i*13 + 1)
	}
	for off := int64(0); off < size; off += int64(len(chunk)) {
		if _, err := f.WriteAt(chunk[:min(int64(len(chunk)), size-off)], off); err != nil {
			b.Fatal(err)
		}
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = unix.Munmap(m) }()
	rng := rand.New(rand.NewPCG(3, 4))
	offs := make([]int, n)
	for i := range offs {
		offs[i] = rng.IntN(int(size) - sz + 1)
	}
	dst := make([]byte, sz)
	for _, off := range offs[:n/10] {
		copy(dst, m[off:off+sz])
	}
	best := 0.0
	for range 3 {
		t0 := time.Now()
		for _, off := range offs {
			copy(dst, m[off:off+sz])
			getLogSink ^= dst[off&(sz-1)]
		}
		if ns := float64(time.Since(t0).Nanoseconds()) / n; best == 0 || ns < best {
			best = ns
		}
	}
	return best
}

// BenchmarkGetLogRandom1KiB: GetLog of 1 KiB entries at random indexes of
// a log larger than the CPU caches (SPOOL_BENCH_GET_MIB, default 256 MiB;
// warm), the bench suite's read-rand workload, with the random 1 KiB copy
// floor measured in the same run on a mapping as large (floor-ns) and the
// ratio (x-floor; the suite's target is at most 1.5).
//
//	go test -run='^$' -bench=BenchmarkGetLogRandom1KiB -count=5 ./raftadapter/hashicorp/ | tee getlog.txt
//	benchstat getlog.txt
func BenchmarkGetLogRandom1KiB(b *testing.B) {
	const size = 1 << 10
	logMiB := 256
	if v, err := strconv.Atoi(os.Getenv("SPOOL_BENCH_GET_MIB")); err == nil && v > 0 {
		logMiB = v
	}
	s := openStore(b, b.TempDir(), &Options{JournalOptions: JournalOptions{NoSync: true}})
	var store raft.LogStore = s
	n := (logMiB << 20) / (size + 64)
	for first := 1; first <= n; first += 1024 {
		if err := store.StoreLogs(benchLogs(uint64(first), min(1024, n-first+1), size)); err != nil {
			b.Fatal(err)
		}
	}
	floor := randCopyNs(b, int64(logMiB)<<20)
	var l raft.Log
	for i := 1; i <= n; i++ { // warm: cached and mapped
		if err := store.GetLog(uint64(i), &l); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	idxs := make([]uint64, 1<<20)
	for i := range idxs {
		idxs[i] = 1 + rng.Uint64N(uint64(n))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	i := 0
	t0 := time.Now()
	for b.Loop() {
		if err := store.GetLog(idxs[i&(len(idxs)-1)], &l); err != nil {
			b.Fatal(err)
		}
		i++
	}
	ns := float64(time.Since(t0).Nanoseconds()) / float64(b.N)
	b.ReportMetric(floor, "floor-ns")
	b.ReportMetric(ns/floor, "x-floor")
}
