package workload

import (
	"crypto/sha256"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// cpuLoad is n goroutines that keep the CPU busy with real work, standing
// in for what competes with a Raft leader loop for the Ps (FSM apply,
// replication, clients). Each hashes a buffer of its own in a tight loop
// and feeds the digest back into the buffer, so the work cannot be
// optimised away; GOMAXPROCS is left as it is.
type cpuLoad struct {
	quit   atomic.Bool
	wg     sync.WaitGroup
	hashed atomic.Uint64 // bytes hashed, summed when each goroutine ends
	sink   atomic.Uint64
	start  time.Time
}

// loadBuffer is the size each goroutine hashes per round: a few
// microseconds of work, so a stop request is seen at once.
const loadBuffer = 16 << 10

// startCPULoad starts n load goroutines; stop ends and joins them.
func startCPULoad(n int) *cpuLoad {
	l := &cpuLoad{start: time.Now()}
	for i := range n {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			buf := make([]byte, loadBuffer)
			rand.NewChaCha8([32]byte{byte(i), 1}).Read(buf)
			var rounds uint64
			var acc uint64
			for !l.quit.Load() {
				d := sha256.Sum256(buf)
				copy(buf[rounds%(loadBuffer/32)*32:], d[:])
				acc += uint64(d[0]) | uint64(d[31])<<8
				rounds++
			}
			l.hashed.Add(rounds * loadBuffer)
			l.sink.Add(acc)
		}()
	}
	return l
}

// stop ends the goroutines, waits for them, and returns the MiB/s they
// hashed together.
func (l *cpuLoad) stop() float64 {
	l.quit.Store(true)
	l.wg.Wait()
	return perSecond(float64(l.hashed.Load())/mib, time.Since(l.start))
}
