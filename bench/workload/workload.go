package workload

import (
	"fmt"

	"github.com/spoolhq/spool/bench/store"
)

// MachineColumn is the name of the pseudo-column the machine limits are
// reported under.
const MachineColumn = "machine"

// Direction says which way a figure is better.
type Direction int

const (
	// Neutral: neither (a size, a count).
	Neutral Direction = iota
	// Higher is better (throughput).
	Higher
	// Lower is better (latency, time, memory, allocations).
	Lower
)

// Metric describes one reported figure.
type Metric struct {
	// Key names the figure in results ("entries_per_s").
	Key string `json:"key"`
	// Label is the column heading ("entries/s").
	Label string `json:"label"`
	// Better says which direction is better.
	Better Direction `json:"better"`
	// Limit is the key of the machine figure this one is compared with
	// ("× limit"), empty when there is none.
	Limit string `json:"limit,omitempty"`
	// Floor is the key of the floor figure measured in the same cells
	// beside this one; the series tables add a row with the floor's
	// median over every column's cells.
	Floor string `json:"floor,omitempty"`
	// Headline figures are shown in the markdown table; the others only in
	// the JSON and the charts.
	Headline bool `json:"headline,omitempty"`
	// Ratios: the table also shows this figure's ratio to the best peer
	// and, when it has a Limit, to the machine limit.
	Ratios bool `json:"ratios,omitempty"`
}

// Env is what a workload runs with.
type Env struct {
	// Spec is the column under test (zero for machine workloads).
	Spec store.Spec
	// Dir is an empty directory for this run alone, on the filesystem
	// under test.
	Dir string
	// Fixture is the directory of the read-only log the workload reads,
	// built by the workload named by Workload.Fixture.
	Fixture string
	// Scale sizes the run.
	Scale Scale
	// Warm disables cache eviction before cold measurements.
	Warm bool
}

// Result is what one run of a workload measured.
type Result struct {
	// Metrics maps Metric.Key to its value.
	Metrics map[string]float64 `json:"metrics"`
	// Labels qualify the run ("cache": "cold (drop_caches)", "mode":
	// "caller-batched").
	Labels map[string]string `json:"labels,omitempty"`
}

func newResult() Result {
	return Result{Metrics: map[string]float64{}, Labels: map[string]string{}}
}

// Workload is one benchmark.
type Workload struct {
	// Name identifies the workload ("append-128x64", "open-500MiB").
	Name string `json:"name"`
	// Title describes it in one line.
	Title string `json:"title"`
	// Needs are the capabilities a column must have to run it.
	Needs store.Caps `json:"needs"`
	// NeedsAny, when set, are capabilities of which a column must have at
	// least one: a workload that can drive either StoreLogs or a Ready.
	NeedsAny store.Caps `json:"needs_any,omitempty"`
	// Machine workloads run on the machine pseudo-column, not on stores.
	Machine bool `json:"machine,omitempty"`
	// Build workloads create a read-only log in Env.Dir that other
	// workloads read; the driver runs each once per column.
	Build bool `json:"build,omitempty"`
	// Fixture names the build workload whose log this one reads.
	Fixture string `json:"fixture,omitempty"`
	// Series groups workloads that differ by log size ("open", "write");
	// SizeMiB is the size.
	Series  string `json:"series,omitempty"`
	SizeMiB int    `json:"size_mib,omitempty"`
	// Load is the number of CPU-bound goroutines the workload runs beside
	// the store (the "loaded" series, ordered by it).
	Load int `json:"load,omitempty"`
	// Metrics are the figures the workload reports, headline ones first.
	Metrics []Metric `json:"metrics"`
	// Run runs the workload once.
	Run func(env *Env) (Result, error) `json:"-"`
}

// Supports reports whether w runs on spec.
func (w Workload) Supports(spec store.Spec) bool {
	return !w.Machine && spec.Caps.Has(w.Needs) && (w.NeedsAny == 0 || spec.Caps&w.NeedsAny != 0)
}

// Metric returns the description of the figure key.
func (w Workload) Metric(key string) (Metric, bool) {
	for _, m := range w.Metrics {
		if m.Key == key {
			return m, true
		}
	}
	return Metric{}, false
}

// OpenName is the name of the open workload at size MiB.
func OpenName(mib int) string { return fmt.Sprintf("open-%dMiB", mib) }

// WriteName is the name of the build workload of a size MiB log.
func WriteName(mib int) string { return fmt.Sprintf("write-%dMiB", mib) }

// List returns every workload of scale s in run order: the machine limits,
// the append, group-commit, read, delete (prefix and suffix) and native
// workloads, the
// durable appends under CPU load, then the write and open series by size.
func List(s Scale) []Workload {
	ws := []Workload{
		machineWorkload(),
		append128x64(),
		append1K(),
		append256Kx4(),
		groupCommit(),
		readSeq(s),
		readRand(s),
		deleteHalf(),
		deleteSuffix(),
		readView4K(),
	}
	for _, n := range LoadLevels {
		ws = append(ws, loadedSeries(n))
	}
	sizes := append([]int{s.ReadMiB}, s.OpenMiB...)
	seen := map[int]bool{}
	for _, mib := range sizes {
		if !seen[mib] {
			seen[mib] = true
			ws = append(ws, writeSeries(mib))
		}
	}
	for _, mib := range s.OpenMiB {
		ws = append(ws, openSeries(mib))
	}
	return ws
}

// Find returns the workload of scale s named name.
func Find(s Scale, name string) (Workload, bool) {
	for _, w := range List(s) {
		if w.Name == name {
			return w, true
		}
	}
	return Workload{}, false
}

// SeriesTitle is the heading of a size series.
func SeriesTitle(series string) string {
	switch series {
	case "open":
		return "Reopen: open time and memory against log size"
	case "write":
		return "Writing the logs the read and open workloads use: bandwidth and memory against log size"
	case "loaded":
		return "Durable latency under CPU load: 32 entries of 100 B–1 KiB per durable call, N CPU-bound goroutines in the process"
	}
	return series
}

// SeriesDescription says what the workloads of a size series do.
func SeriesDescription(series string) string {
	switch series {
	case "open":
		return "Each cell opens a log of 1 KiB entries, asks for the first and last index and reads the last entry, first with the log's pages evicted (cold; how, is in the labels) and then again warm. RSS is read right after the cold open; the peak is VmHWM reset just before it; idle is the process before the open."
	case "write":
		return "Each cell writes a log of 1 KiB entries in StoreLogs calls of 256 entries (durable), once per column; the read and open workloads then read it. Memory is read at the end of the writing."
	case "loaded":
		return "A Raft server is never idle: FSM apply, replication and clients compete with the leader loop for the Ps. Each cell starts N goroutines that hash a buffer in a tight loop (GOMAXPROCS unchanged), then times durable calls of 32 entries (100 B–1 KiB, varying): StoreLogs for raft.LogStore columns (etcd-wal's is wal.Save of the entries and a HardState), SaveReady of a Ready with the entries, a HardState and MustSync for spool-etcd. After each call the same cell writes the same number of bytes in place into a preallocated, already written file in the same directory and fdatasyncs it: the floor, under the same load at the same moment. × floor is the call p50 over the floor p50 of the same cell; the floor row pools every cell's floor."
	}
	return ""
}
