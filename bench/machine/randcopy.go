package machine

import (
	"fmt"
	"math/rand/v2"
	"os"
	"syscall"
	"time"
)

// RandCopySize is the size of one copy of the random-copy floor: the entry
// size of the random-read workload.
const RandCopySize = 1024

// RandCopy is the floor of a random read of a RandCopySize entry out of a
// log larger than the CPU caches: it writes a file of size bytes at path
// (cached, never synced), maps it read-only, and copies RandCopySize bytes
// from random offsets into one buffer, n times, in the order the random-read
// workload reads: an untimed tenth first, on the fresh mapping, then n timed
// copies. It returns the time of one timed copy in nanoseconds. Page-table
// misses and the first touch of a page (a minor fault) are part of the floor,
// as they are of any read through a mapping of that size. The file is
// removed.
func RandCopy(path string, size int64, n int) (float64, error) {
	if size < 2*RandCopySize || n < 1 {
		return 0, fmt.Errorf("random copy: size %d, %d copies", size, n)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	defer f.Close()
	chunk := fill(1 << 20)
	for off := int64(0); off < size; off += int64(len(chunk)) {
		if _, err := f.WriteAt(chunk[:min(int64(len(chunk)), size-off)], off); err != nil {
			return 0, err
		}
	}
	m, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return 0, fmt.Errorf("mmap: %w", err)
	}
	defer syscall.Munmap(m)
	rng := rand.New(rand.NewPCG(1, 2))
	offs := make([]int, n)
	for i := range offs {
		offs[i] = rng.IntN(int(size) - RandCopySize + 1)
	}
	dst := make([]byte, RandCopySize)
	for _, off := range offs[:max(n/10, 1)] {
		copy(dst, m[off:off+RandCopySize])
	}
	t0 := time.Now()
	for _, off := range offs {
		copy(dst, m[off:off+RandCopySize])
		sink ^= dst[off&(RandCopySize-1)]
	}
	d := time.Since(t0)
	return float64(d.Nanoseconds()) / float64(n), nil
}
