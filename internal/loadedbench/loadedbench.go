//go:build linux

// Package loadedbench is the harness of the BenchmarkLoadedDurable
// benchmarks of the journal and both adapters: durable latency under CPU
// load (issue 12). A Raft server is never idle, so FSM apply, replication
// and client goroutines compete with the goroutine waiting for the sync.
// Run starts N CPU-bound goroutines beside the durable call (GOMAXPROCS
// unchanged) and follows every call with two floors of the same bytes in
// the same directory: written in place into a preallocated, already
// written file, then fdatasync (what raft-boltdb's page rewrites cost at
// least), and appended into reserved but unwritten blocks, then fdatasync
// (the disk work of a log that preallocates its files). Reported: p50-µs,
// p99-µs and ns/op of the call, floor-p50-µs and floor-p99-µs,
// x-floor-p50 (the call p50 over the in-place floor p50; target ≤ 1.3 at
// every N), append-floor-p50-µs and x-append-floor-p50:
//
//	go test -run='^$' -bench=LoadedDurable -benchtime=2s -count=3 ./journal/ ./raftadapter/hashicorp/ ./raftadapter/etcd/
//
// The side-by-side comparison with raft-boltdb, raft-wal and etcd's wal
// under the same load is the bench module's (bench/, workloads loaded-n*).
// Only tests import this package.
package loadedbench

import (
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Levels are the numbers of CPU-bound goroutines the benchmarks run beside
// the durable call.
var Levels = []int{0, 2, 8}

const (
	// Entries is the number of entries of 100 B to 1 KiB per durable call.
	Entries       = 32
	loadedMinSize = 100
	loadedMaxSize = 1024
	// loadedFloorSize is the floor file the floor writes cycle through.
	loadedFloorSize = 16 << 20
	// loadedHashSize is what a load goroutine hashes per round: a few
	// microseconds, so the stop request is seen at once.
	loadedHashSize = 16 << 10
)

// Data returns the data of entry index: 100 B to 1 KiB, varying
// with the index, from one incompressible buffer.
func Data(buf []byte, index uint64) []byte {
	size := loadedMinSize + int(index*7919%(loadedMaxSize-loadedMinSize+1))
	off := int(index * 4099 % uint64(len(buf)-loadedMaxSize))
	return buf[off : off+size : off+size]
}

// Buffer returns the incompressible buffer entry data comes from.
func Buffer() []byte {
	buf := make([]byte, 1<<20)
	_, _ = rand.NewChaCha8([32]byte{12}).Read(buf) // ChaCha8.Read always fills buf and returns nil
	return buf
}

// startCPU starts n goroutines that hash a buffer of their own in a
// tight loop, feeding each digest back into the buffer so the work cannot
// be optimised away. The returned function stops them, waits for all of
// them, and returns the bytes they hashed.
func startCPU(n int) (stop func() uint64) {
	var quit atomic.Bool
	var hashed atomic.Uint64
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, loadedHashSize)
			_, _ = rand.NewChaCha8([32]byte{byte(i), 1}).Read(buf) // never fails, as above
			var rounds uint64
			for !quit.Load() {
				d := sha256.Sum256(buf)
				copy(buf[rounds%(loadedHashSize/32)*32:], d[:])
				rounds++
			}
			hashed.Add(rounds * loadedHashSize)
		}()
	}
	return func() uint64 {
		quit.Store(true)
		wg.Wait()
		return hashed.Load()
	}
}

// loadedFloor is the floor file: preallocated and written before the
// first timed write, so that each pwrite + fdatasync overwrites written
// blocks in place.
type loadedFloor struct {
	f   *os.File
	off int64
	buf []byte
	app *appendFloor
}

// appendFloor is the second floor: the same bytes appended with pwrite into
// a file whose blocks fallocate reserved but nothing has written yet, then
// fdatasync. That is the disk work of any log that preallocates its files,
// spool's segments included: the first write of a reserved block converts
// its extent from unwritten to written, a metadata change that fdatasync
// must commit (the in-place floor has none).
type appendFloor struct {
	dir string
	f   *os.File
	off int64
	seq int
}

// appendFloorSize is the reservation of one append-floor file; a full one
// is replaced by a fresh one, as a log rolls to its next segment.
const appendFloorSize = 256 << 20

func (a *appendFloor) write(b *testing.B, p []byte) {
	if a.f == nil || a.off+int64(len(p)) > appendFloorSize {
		if a.f != nil {
			// Nothing reads a floor file back, and it lies in b.TempDir: a
			// failing Close or Remove costs the measurement nothing.
			_ = a.f.Close()
			_ = os.Remove(a.f.Name())
		}
		a.seq++
		f, err := os.OpenFile(filepath.Join(a.dir, fmt.Sprintf("append-floor-%d", a.seq)), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		if err := unix.Fallocate(int(f.Fd()), 0, 0, appendFloorSize); err != nil {
			b.Fatal(err)
		}
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		a.f, a.off = f, 0
	}
	if _, err := a.f.WriteAt(p, a.off); err != nil {
		b.Fatal(err)
	}
	if err := unix.Fdatasync(int(a.f.Fd())); err != nil {
		b.Fatal(err)
	}
	a.off += int64(len(p))
}

func (a *appendFloor) close() {
	if a.f != nil {
		_ = a.f.Close() // as in write
		_ = os.Remove(a.f.Name())
	}
}

func openLoadedFloor(b *testing.B, path string) *loadedFloor {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = f.Close() })
	if err := unix.Fallocate(int(f.Fd()), 0, 0, loadedFloorSize); err != nil {
		b.Fatal(err)
	}
	if _, err := f.WriteAt(make([]byte, loadedFloorSize), 0); err != nil {
		b.Fatal(err)
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		b.Fatal(err)
	}
	app := &appendFloor{dir: filepath.Dir(path)}
	b.Cleanup(app.close)
	return &loadedFloor{f: f, buf: Buffer(), app: app}
}

// write writes n bytes at the next offset (wrapping) and fdatasyncs.
func (fl *loadedFloor) write(b *testing.B, n int) {
	if fl.off+int64(n) > loadedFloorSize {
		fl.off = 0
	}
	if _, err := fl.f.WriteAt(fl.buf[:n], fl.off); err != nil {
		b.Fatal(err)
	}
	if err := unix.Fdatasync(int(fl.f.Fd())); err != nil {
		b.Fatal(err)
	}
	fl.off += int64(n)
}

// Run times b.N durable calls (call returns the bytes of entry data
// it stored) with n CPU-bound goroutines running, each call followed by its
// floor write in dir, and reports the figures.
func Run(b *testing.B, dir string, n int, call func() int) {
	fl := openLoadedFloor(b, filepath.Join(dir, "floor"))
	loadStart := time.Now()
	stop := startCPU(n)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	for range 5 { // warm up: first segment, code paths, the load's scheduling
		fl.write(b, call())
	}
	calls := make([]time.Duration, 0, b.N)
	floors := make([]time.Duration, 0, b.N)
	appendFloors := make([]time.Duration, 0, b.N)
	var bytes int64
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		size := call()
		t1 := time.Now()
		fl.write(b, size)
		t2 := time.Now()
		fl.app.write(b, fl.buf[:size])
		appendFloors = append(appendFloors, time.Since(t2))
		floors = append(floors, t2.Sub(t1))
		calls = append(calls, t1.Sub(t0))
		bytes += int64(size)
	}
	b.StopTimer()
	stopped = true
	hashed := stop()
	loadTime := time.Since(loadStart)

	var sum time.Duration
	for _, d := range calls {
		sum += d
	}
	slices.Sort(calls)
	slices.Sort(floors)
	slices.Sort(appendFloors)
	at := func(d []time.Duration, q float64) float64 {
		return float64(d[min(int(q*float64(len(d))), len(d)-1)]) / float64(time.Microsecond)
	}
	// ns/op is the durable call's alone, not the call and its floor write.
	b.ReportMetric(float64(sum.Nanoseconds())/float64(len(calls)), "ns/op")
	b.ReportMetric(at(calls, 0.5), "p50-µs")
	b.ReportMetric(at(calls, 0.99), "p99-µs")
	b.ReportMetric(at(floors, 0.5), "floor-p50-µs")
	b.ReportMetric(at(floors, 0.99), "floor-p99-µs")
	b.ReportMetric(at(calls, 0.5)/at(floors, 0.5), "x-floor-p50")
	b.ReportMetric(at(appendFloors, 0.5), "append-floor-p50-µs")
	b.ReportMetric(at(calls, 0.5)/at(appendFloors, 0.5), "x-append-floor-p50")
	b.ReportMetric(float64(bytes)/float64(len(calls)), "B/call")
	if n > 0 {
		// Work the load goroutines did: evidence that they ran.
		b.ReportMetric(float64(hashed)/(1<<20)/loadTime.Seconds(), "load-MiB/s")
	}
}
