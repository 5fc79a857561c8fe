package workload

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/hashicorp/raft"

	"github.com/spoolhq/spool/bench/store"
)

// appendedAt is the AppendedAt of every entry written: a fixed time, so that
// stores that encode it pay for it without the harness calling time.Now.
var appendedAt = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// payloads hands out entry data: windows of one incompressible buffer, at an
// offset that depends on the index so that neighbouring entries differ.
type payloads struct {
	buf  []byte
	size int
}

func newPayloads(size int) *payloads {
	n := max(4<<20, 4*size)
	p := &payloads{buf: make([]byte, n), size: size}
	rand.NewChaCha8([32]byte{7}).Read(p.buf)
	return p
}

// at returns the data of entry index. The caller must not modify it.
func (p *payloads) at(index uint64) []byte {
	span := uint64(len(p.buf) - p.size)
	off := (index * 4099) % span
	return p.buf[off : off+uint64(p.size) : off+uint64(p.size)]
}

// writer appends entries of one size to a store in StoreLogs calls of a
// fixed count, reusing its raft.Log structs (stores must not retain them).
type writer struct {
	s    store.Store
	p    *payloads
	logs []*raft.Log
	next uint64
}

func newWriter(s store.Store, size, perCall int) (*writer, error) {
	last, err := s.LastIndex()
	if err != nil {
		return nil, err
	}
	w := &writer{s: s, p: newPayloads(size), logs: make([]*raft.Log, perCall), next: last + 1}
	for i := range w.logs {
		w.logs[i] = &raft.Log{Term: 1, Type: raft.LogCommand, AppendedAt: appendedAt}
	}
	return w, nil
}

// call stores the next perCall entries in one StoreLogs call.
func (w *writer) call() error {
	for _, l := range w.logs {
		l.Index = w.next
		l.Data = w.p.at(w.next)
		w.next++
	}
	return w.s.StoreLogs(w.logs)
}

// fill stores entries until at least bytes of entry data are written.
func (w *writer) fill(bytes int64) error {
	perCall := int64(len(w.logs) * w.p.size)
	for written := int64(0); written < bytes; written += perCall {
		if err := w.call(); err != nil {
			return err
		}
	}
	return nil
}

// allocs counts heap allocations over a stretch of code.
type allocs struct{ mallocs, bytes uint64 }

func readAllocs() allocs {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return allocs{m.Mallocs, m.TotalAlloc}
}

// since returns the allocations and bytes allocated since a.
func (a allocs) since() (n, bytes float64) {
	b := readAllocs()
	return float64(b.mallocs - a.mallocs), float64(b.bytes - a.bytes)
}

// openStore opens the column in dir.
func openStore(env *Env, dir string) (store.Store, error) {
	s, err := env.Spec.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", env.Spec.Name, err)
	}
	return s, nil
}

const mib = 1 << 20

func perSecond(n float64, d time.Duration) float64 { return n / d.Seconds() }
