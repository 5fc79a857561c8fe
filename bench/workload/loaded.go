package workload

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	etcdraft "go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/spoolhq/spool/bench/machine"
	"github.com/spoolhq/spool/bench/store"
)

// LoadLevels are the numbers of CPU-bound goroutines the loaded workloads
// run beside the store.
var LoadLevels = []int{0, 2, 8}

// LoadedName is the name of the loaded workload with n load goroutines.
func LoadedName(n int) string { return fmt.Sprintf("loaded-n%d", n) }

const (
	// loadedEntries entries of loadedMinSize to loadedMaxSize bytes per
	// durable call: a leader's batch of small commands.
	loadedEntries = 32
	loadedMinSize = 100
	loadedMaxSize = 1024
	// floorFileSize is the preallocated floor file the floor writes cycle
	// through, in place: 128 of the largest calls before it wraps, small
	// enough that preparing it costs a cell little.
	floorFileSize = 4 << 20
)

// loadedSize is the data size of entry index, spread over
// [loadedMinSize, loadedMaxSize].
func loadedSize(index uint64) int {
	return loadedMinSize + int(index*7919%(loadedMaxSize-loadedMinSize+1))
}

func loadedSeries(n int) Workload {
	ms := []Metric{
		{Key: "call_p50_us", Label: "call p50 µs", Better: Lower, Headline: true, Ratios: true, Floor: "floor_p50_us"},
		{Key: "floor_ratio_p50", Label: "× floor (p50)", Better: Lower, Headline: true},
		{Key: "call_p99_us", Label: "call p99 µs", Better: Lower, Headline: true, Floor: "floor_p99_us"},
		{Key: "floor_ratio_p99", Label: "× floor (p99)", Better: Lower},
		{Key: "call_mean_us", Label: "call mean µs", Better: Lower},
	}
	for _, prefix := range []string{"call", "floor"} {
		for _, q := range Percentiles {
			key := PercentileKey(prefix, q)
			if key == "call_p50_us" || key == "call_p99_us" {
				continue
			}
			label := fmt.Sprintf("%s p%g µs", prefix, q)
			if q == 100 {
				label = prefix + " max µs"
			}
			ms = append(ms, Metric{Key: key, Label: label, Better: Lower})
		}
	}
	ms = append(ms,
		Metric{Key: "calls", Label: "timed calls", Better: Neutral},
		Metric{Key: "load_mibps", Label: "MiB/s hashed by the load goroutines", Better: Neutral},
	)
	return Workload{
		Name:     LoadedName(n),
		Title:    fmt.Sprintf("durable append of 32 entries (100 B–1 KiB) with %d CPU-bound goroutines in the process", n),
		NeedsAny: store.CapLogStore | store.CapReady,
		Series:   "loaded",
		Load:     n,
		Metrics:  ms,
		Run:      func(env *Env) (Result, error) { return runLoaded(env, n) },
	}
}

// durableCall makes one durable call of loadedEntries entries and returns
// the bytes of entry data it stored.
type durableCall func() (int, error)

// runLoaded opens the column in env.Dir/store and a floor file beside it,
// starts n load goroutines, and times durable calls, each followed by a
// floor write of the same bytes, until Scale.LoadedCalls calls or the
// budget.
func runLoaded(env *Env, n int) (res Result, err error) {
	call, closeStore, err := openDurableCall(env, filepath.Join(env.Dir, "store"))
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if cerr := closeStore(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	fl, err := machine.OpenFloor(filepath.Join(env.Dir, "floor"), floorFileSize)
	if err != nil {
		return Result{}, err
	}
	defer fl.Close()
	data := newPayloads(loadedEntries * loadedMaxSize)

	load := startCPULoad(n)
	defer func() {
		if load != nil {
			load.stop()
		}
	}()
	both := func() (time.Duration, time.Duration, error) {
		t0 := time.Now()
		bytes, err := call()
		if err != nil {
			return 0, 0, err
		}
		t1 := time.Now()
		if err := fl.Write(data.at(uint64(t1.UnixNano()))[:bytes]); err != nil {
			return 0, 0, err
		}
		return t1.Sub(t0), time.Since(t1), nil
	}
	for range min(max(env.Scale.LoadedCalls/10, 1), 5) { // warm up: first segment, code paths, the load's scheduling
		if _, _, err := both(); err != nil {
			return Result{}, err
		}
	}
	calls := make([]time.Duration, 0, env.Scale.LoadedCalls)
	floors := make([]time.Duration, 0, env.Scale.LoadedCalls)
	t0 := time.Now()
	for len(calls) < env.Scale.LoadedCalls && time.Since(t0) < env.Scale.LoadedBudget {
		c, f, err := both()
		if err != nil {
			return Result{}, err
		}
		calls = append(calls, c)
		floors = append(floors, f)
	}
	loadMiBps := load.stop()
	load = nil

	r := newResult()
	if len(calls) < env.Scale.LoadedCalls {
		r.Labels["budget"] = fmt.Sprintf("stopped at the %v budget after %d of %d calls", env.Scale.LoadedBudget, len(calls), env.Scale.LoadedCalls)
	}
	var sum time.Duration
	for _, c := range calls {
		sum += c
	}
	r.Metrics["call_mean_us"] = float64(sum) / float64(len(calls)) / float64(time.Microsecond)
	addLatencies(r, "call", calls)
	addLatencies(r, "floor", floors)
	for _, q := range []float64{50, 99} {
		if f := r.Metrics[PercentileKey("floor", q)]; f > 0 {
			r.Metrics[fmt.Sprintf("floor_ratio_p%g", q)] = r.Metrics[PercentileKey("call", q)] / f
		}
	}
	r.Metrics["calls"] = float64(len(calls))
	r.Metrics["load_mibps"] = loadMiBps
	return r, nil
}

// openDurableCall opens the column in dir and returns its durable call:
// StoreLogs of raft.Logs for a raft.LogStore, SaveReady of a Ready
// (entries, HardState, MustSync) for a ReadyStore.
func openDurableCall(env *Env, dir string) (durableCall, func() error, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	p := newPayloads(loadedMaxSize)
	if env.Spec.Caps.Has(store.CapReady) {
		s, err := env.Spec.OpenReady(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("open %s: %w", env.Spec.Name, err)
		}
		next, commit := uint64(1), uint64(0)
		call := func() (int, error) {
			// Fresh entries every call, as raft hands out: a ReadyStore
			// may keep what it is given.
			ents := make([]*raftpb.Entry, loadedEntries)
			bytes := 0
			for i := range ents {
				d := p.at(next)[:loadedSize(next)]
				ents[i] = &raftpb.Entry{Term: new(uint64(1)), Index: new(next), Type: new(raftpb.EntryNormal), Data: d}
				bytes += len(d)
				next++
			}
			rd := etcdraft.Ready{
				HardState: &raftpb.HardState{Term: new(uint64(1)), Vote: new(uint64(1)), Commit: new(commit)},
				Entries:   ents,
				MustSync:  true,
			}
			commit = next - 1
			return bytes, s.SaveReady(rd)
		}
		return call, s.Close, nil
	}
	if env.Spec.Open == nil {
		return nil, nil, errors.New("column " + env.Spec.Name + " has neither Open nor OpenReady")
	}
	s, err := openStore(env, dir)
	if err != nil {
		return nil, nil, err
	}
	logs := make([]*raft.Log, loadedEntries)
	for i := range logs {
		logs[i] = &raft.Log{Term: 1, Type: raft.LogCommand, AppendedAt: appendedAt}
	}
	next := uint64(1)
	call := func() (int, error) {
		bytes := 0
		for _, l := range logs {
			l.Index = next
			l.Data = p.at(next)[:loadedSize(next)]
			bytes += len(l.Data)
			next++
		}
		return bytes, s.StoreLogs(logs)
	}
	return call, s.Close, nil
}
