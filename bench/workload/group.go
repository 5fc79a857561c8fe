package workload

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/spoolhq/spool/bench/store"
)

// Modes of the group-commit workload.
const (
	// ModeNative: producers call the store's ConcurrentAppender directly.
	ModeNative = "native"
	// ModeCallerBatched: the store is a plain raft.LogStore, which takes one
	// writer at a time and needs contiguous indexes; producers hand entries
	// to one committer goroutine that stores whatever is queued (up to one
	// entry per producer) in a single StoreLogs call, as raft's leader loop
	// batches applies.
	ModeCallerBatched = "caller-batched"
)

func groupCommit() Workload {
	ms := []Metric{
		{Key: "entries_per_s", Label: "entries/s (N producers)", Better: Higher, Headline: true, Ratios: true},
		{Key: "single_entries_per_s", Label: "entries/s (1 producer)", Better: Higher, Headline: true},
		{Key: "speedup", Label: "× 1 producer", Better: Higher, Headline: true},
	}
	ms = append(ms, latencyMetrics("entry", "entry", false)...)
	return Workload{
		Name:    "group-commit",
		Title:   "concurrent producers, one 1 KiB durable entry each per call (group commit)",
		Needs:   store.CapLogStore,
		Metrics: ms,
		Run:     runGroup,
	}
}

// appendFunc appends one entry durably and returns when it is durable.
type appendFunc func(data []byte) error

func runGroup(env *Env) (Result, error) {
	s, err := openStore(env, env.Dir)
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	r := newResult()
	var appendOne appendFunc
	if ca, ok := s.(store.ConcurrentAppender); ok && env.Spec.Caps.Has(store.CapConcurrentAppend) {
		r.Labels["mode"] = ModeNative
		appendOne = func(p []byte) error { _, err := ca.AppendDurable(p); return err }
	} else {
		r.Labels["mode"] = ModeCallerBatched
		b, err := newBatcher(s, env.Scale.Producers)
		if err != nil {
			return Result{}, err
		}
		defer b.stop()
		appendOne = b.append
	}
	p := newPayloads(1024)
	total := env.Scale.GroupEntries
	if _, _, err := produce(appendOne, p, 1, max(total/64, 1)); err != nil { // warm up
		return Result{}, err
	}
	single, _, err := produce(appendOne, p, 1, max(total/8, 1))
	if err != nil {
		return Result{}, err
	}
	many, lat, err := produce(appendOne, p, env.Scale.Producers, total)
	if err != nil {
		return Result{}, err
	}
	r.Metrics["entries_per_s"] = many
	r.Metrics["single_entries_per_s"] = single
	r.Metrics["speedup"] = many / single
	r.Metrics["producers"] = float64(env.Scale.Producers)
	addLatencies(r, "entry", lat)
	return r, nil
}

// produce runs producers goroutines that append n entries together and
// returns the entries per second and every entry's latency.
func produce(appendOne appendFunc, p *payloads, producers, n int) (float64, []time.Duration, error) {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, producers)
	t0 := time.Now()
	for g := range producers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				c0 := time.Now()
				if err := appendOne(p.at(uint64(i))); err != nil {
					errs[g] = err
					return
				}
				lat[i] = time.Since(c0)
			}
		})
	}
	wg.Wait()
	d := time.Since(t0)
	return perSecond(float64(n), d), lat, errors.Join(errs...)
}

// batcher is the committer of ModeCallerBatched.
type batcher struct {
	s    store.Store
	reqs chan request
	done chan struct{}
	next uint64
	max  int
}

type request struct {
	data []byte
	ack  chan error
}

func newBatcher(s store.Store, producers int) (*batcher, error) {
	last, err := s.LastIndex()
	if err != nil {
		return nil, err
	}
	b := &batcher{s: s, reqs: make(chan request, producers), done: make(chan struct{}), next: last + 1, max: producers}
	go b.run()
	return b, nil
}

var ackPool = sync.Pool{New: func() any { return make(chan error, 1) }}

// append hands data to the committer and waits until it is stored.
func (b *batcher) append(data []byte) error {
	ack := ackPool.Get().(chan error)
	b.reqs <- request{data: data, ack: ack}
	err := <-ack
	ackPool.Put(ack)
	return err
}

func (b *batcher) run() {
	defer close(b.done)
	batch := make([]request, 0, b.max)
	logs := make([]*raft.Log, 0, b.max)
	structs := make([]raft.Log, b.max)
	for first := range b.reqs {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < b.max {
			select {
			case r, ok := <-b.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		logs = logs[:0]
		for i, r := range batch {
			structs[i] = raft.Log{Index: b.next, Term: 1, Type: raft.LogCommand, Data: r.data, AppendedAt: appendedAt}
			b.next++
			logs = append(logs, &structs[i])
		}
		err := b.s.StoreLogs(logs)
		for _, r := range batch {
			r.ack <- err
		}
	}
}

func (b *batcher) stop() {
	close(b.reqs)
	<-b.done
}
