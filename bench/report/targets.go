package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/spoolhq/spool/bench/catalog"
	"github.com/spoolhq/spool/bench/harness"
	"github.com/spoolhq/spool/bench/workload"
)

// RefKind says what a target compares a figure with.
type RefKind int

const (
	// Absolute: the figure itself is compared with Factor.
	Absolute RefKind = iota
	// Machine: Factor × a machine limit (RefMetric).
	Machine
	// Peer: Factor × a peer column's same figure (RefStore).
	Peer
	// Self: Factor × another figure of the same column (RefWorkload,
	// RefMetric), e.g. the same figure at a smaller log size.
	Self
)

// Target is one of the targets, as data: the report evaluates it
// whenever the column it names has results.
type Target struct {
	// Text is the target as the issue states it.
	Text string `json:"text"`
	// Column is the spool column the target applies to.
	Column string `json:"column"`
	// Workload names the workload; "{reopen}", "{large}" and "{small}"
	// stand for the open workloads at Scale.ReopenMiB,
	// Scale.LargeOpenMiB() and Scale.SmallOpenMiB().
	Workload string `json:"workload"`
	// Metric is the figure's key.
	Metric string `json:"metric"`
	// AtMost: the figure must be ≤ the threshold; else ≥.
	AtMost bool `json:"at_most"`
	// Factor multiplies the reference (or is the threshold for Absolute).
	Factor float64 `json:"factor"`
	// Ref, RefStore, RefWorkload, RefMetric name the reference.
	Ref         RefKind `json:"ref"`
	RefStore    string  `json:"ref_store,omitempty"`
	RefWorkload string  `json:"ref_workload,omitempty"`
	RefMetric   string  `json:"ref_metric,omitempty"`
}

// Targets are the benchmark issues' targets, in their order; the durable
// latency under CPU load comes last, one row per spool column and load.
var Targets = append(baseTargets, loadedTargets()...)

// loadedFloorFactor: spool's durable call p50 under CPU load may be at most
// this multiple of the in-place write+fdatasync floor of the same bytes,
// measured in the same cells under the same load.
const loadedFloorFactor = 1.3

// loadedTargets are the durable-latency-under-load targets: for every
// spool column and every load level, the call p50 ≤ 1.3× the floor p50.
func loadedTargets() []Target {
	var ts []Target
	for _, c := range []struct{ column, what string }{
		{catalog.SpoolNative, "journal durable batch"},
		{catalog.Spool, "hashicorp StoreLogs"},
		{catalog.SpoolEtcd, "etcd SaveReady"},
	} {
		for _, n := range workload.LoadLevels {
			wl := workload.LoadedName(n)
			ts = append(ts, Target{
				Text:   fmt.Sprintf("%s of 32 entries with %d CPU-bound goroutines: p50 ≤ %g× in-place write+fdatasync floor p50", c.what, n, loadedFloorFactor),
				Column: c.column, Workload: wl, Metric: "call_p50_us", AtMost: true, Factor: loadedFloorFactor,
				Ref: Self, RefWorkload: wl, RefMetric: "floor_p50_us",
			})
		}
	}
	return ts
}

// baseTargets are the targets of the benchmark issue and of issue 14
// (durable writes at least as fast as raft-wal, cuts, an honest read
// floor). Where issue 14 restated an earlier target with another threshold
// (128 B × 64 entries/s, 1 KiB call p50, 256 KiB × 4 against raft-wal, the
// prefix DeleteRange's time and its reclaimed space) its figure replaces
// the earlier one. The earlier "sequential GetLog ≥ 40× raft-wal" is gone:
// a GetLog that hands raft memory it owns copies the entry and checks its
// checksum, and no sequential pass of that reaches 40× raft-wal on this
// class of machine; the random GetLog rows compare it instead with the
// machine's own random 1 KiB copy out of an equally large mapping.
var baseTargets = []Target{
	{Text: "append 128 B × 64 durable: call p50 ≤ 1.15× in-place write+fdatasync p50", Column: catalog.Spool,
		Workload: "append-128x64", Metric: "call_p50_us", AtMost: true, Factor: 1.15, Ref: Machine, RefMetric: "fsync_inplace_p50_us"},
	{Text: "append 128 B × 64 durable: entries/s ≥ 1.1× raft-wal", Column: catalog.Spool,
		Workload: "append-128x64", Metric: "entries_per_s", Factor: 1.1, Ref: Peer, RefStore: "raft-wal"},
	{Text: "append one 1 KiB durable: call p50 ≤ 1.1× 4 KiB in-place write+fdatasync p50", Column: catalog.Spool,
		Workload: "append-1k", Metric: "call_p50_us", AtMost: true, Factor: 1.1, Ref: Machine, RefMetric: "fsync_inplace_p50_us"},
	{Text: "append 256 KiB × 4 durable: ≥ 95% of sequential write bandwidth", Column: catalog.Spool,
		Workload: "append-256kx4", Metric: "mib_per_s", Factor: 0.95, Ref: Machine, RefMetric: "seq_write_mibps"},
	{Text: "append 256 KiB × 4 durable: MiB/s ≥ 1.1× raft-wal", Column: catalog.Spool,
		Workload: "append-256kx4", Metric: "mib_per_s", Factor: 1.1, Ref: Peer, RefStore: "raft-wal"},
	{Text: "append 256 KiB × 4 durable: call p99 ≤ raft-wal's", Column: catalog.Spool,
		Workload: "append-256kx4", Metric: "call_p99_us", AtMost: true, Factor: 1, Ref: Peer, RefStore: "raft-wal"},
	{Text: "random GetLog of 1 KiB entries: ns/op ≤ 1.5× a random 1 KiB copy out of an equally large mapping", Column: catalog.Spool,
		Workload: "read-rand", Metric: "ns_per_op", AtMost: true, Factor: 1.5, Ref: Machine, RefMetric: "randcopy_ns"},
	{Text: "random GetLog of 1 KiB entries: entries/s ≥ 5× raft-wal", Column: catalog.Spool,
		Workload: "read-rand", Metric: "entries_per_s", Factor: 5, Ref: Peer, RefStore: "raft-wal"},
	{Text: "sequential GetLog: ≥ tidwall/wal entries/s", Column: catalog.Spool,
		Workload: "read-seq", Metric: "entries_per_s", Factor: 1, Ref: Peer, RefStore: "tidwall/wal"},
	{Text: "sequential GetLog: ≤ 1 alloc per call", Column: catalog.Spool,
		Workload: "read-seq", Metric: "allocs_per_op", AtMost: true, Factor: 1},
	{Text: "native zero-copy read: 0 allocs", Column: catalog.SpoolNative,
		Workload: "read-view-4k", Metric: "allocs_per_op", AtMost: true, Factor: 0},
	{Text: "native zero-copy read: ≥ 50% memcpy bandwidth for 4 KiB", Column: catalog.SpoolNative,
		Workload: "read-view-4k", Metric: "mib_per_s", Factor: 0.5, Ref: Machine, RefMetric: "memcpy4k_mibps"},
	{Text: "reopen 500 MiB cold: ≤ 0.05× raft-wal's time", Column: catalog.Spool,
		Workload: "{reopen}", Metric: "open_ms", AtMost: true, Factor: 0.05, Ref: Peer, RefStore: "raft-wal"},
	{Text: "reopen 500 MiB: RSS during open ≤ 1.2× idle", Column: catalog.Spool,
		Workload: "{reopen}", Metric: "rss_growth", AtMost: true, Factor: 1.2},
	{Text: "DeleteRange oldest half: ≤ 0.5× raft-wal's time", Column: catalog.Spool,
		Workload: "delete-half", Metric: "delete_ms", AtMost: true, Factor: 0.5, Ref: Peer, RefStore: "raft-wal"},
	{Text: "DeleteRange oldest half: ≥ 45% of the disk space free again when the call returns (statfs)", Column: catalog.Spool,
		Workload: "delete-half", Metric: "reclaimed_statfs_pct", Factor: 45},
	{Text: "group commit 64 producers × 1 KiB durable: ≥ 30× single appender", Column: catalog.SpoolNative,
		Workload: "group-commit", Metric: "speedup", Factor: 30},
	{Text: "RSS with 1 GiB of log flat in log size (≤ 1.1× RSS at the smallest size)", Column: catalog.Spool,
		Workload: "{large}", Metric: "rss_open_mib", AtMost: true, Factor: 1.1, Ref: Self, RefWorkload: "{small}", RefMetric: "rss_open_mib"},
	{Text: "RSS with 1 GiB of log ≤ 5% of etcd wal + MemoryStorage", Column: catalog.Spool,
		Workload: "{large}", Metric: "rss_open_mib", AtMost: true, Factor: 0.05, Ref: Peer, RefStore: "etcd-wal"},
}

// Outcome is a target evaluated on a run.
type Outcome struct {
	Target Target `json:"target"`
	// Workload is the resolved workload name.
	Workload string `json:"workload"`
	// Measured is the column's median, Reference the reference's median,
	// Threshold the value the median must not pass (nil when unknown).
	Measured  *float64 `json:"measured,omitempty"`
	Reference *float64 `json:"reference,omitempty"`
	Threshold *float64 `json:"threshold,omitempty"`
	// Met is nil when the target could not be evaluated.
	Met *bool `json:"met,omitempty"`
	// Status is "met", "MISSED", "<column>: not yet registered",
	// "<column>: not in this run" or why there is no verdict.
	Status string `json:"status"`
	// Label qualifies the measurement (for example the cache state).
	Label string `json:"label,omitempty"`
}

// resolve replaces the workload placeholders for scale sc.
func resolve(name string, sc workload.Scale) string {
	r := strings.NewReplacer(
		"{reopen}", workload.OpenName(sc.ReopenMiB),
		"{large}", workload.OpenName(sc.LargeOpenMiB()),
		"{small}", workload.OpenName(sc.SmallOpenMiB()),
	)
	return r.Replace(name)
}

// Evaluate evaluates targets on the run.
func Evaluate(targets []Target, res *harness.Results, sum *Summary) []Outcome {
	ran := map[string]bool{}
	for _, s := range res.Stores {
		ran[s.Name] = true
	}
	registered := map[string]bool{}
	for _, name := range res.Registered {
		registered[name] = true
	}
	var out []Outcome
	for _, t := range targets {
		o := Outcome{Target: t, Workload: resolve(t.Workload, res.Scale)}
		// The reference is shown even when the column is missing, so the
		// table says what spool will have to reach.
		ref, refOK := reference(t, o.Workload, res.Scale, sum)
		if refOK {
			o.Reference = new(ref)
			if t.Ref != Absolute {
				o.Threshold = new(t.Factor * ref)
			}
		}
		if t.Ref == Absolute {
			o.Threshold = new(t.Factor)
		}
		switch st, ok := sum.Stat(t.Column, o.Workload, t.Metric); {
		case !ran[t.Column] && registered[t.Column]:
			o.Status = t.Column + ": not in this run"
		case !ran[t.Column]:
			o.Status = t.Column + ": not yet registered"
		case !ok:
			o.Status = "no result"
			if c, ok := sum.Cell(t.Column, o.Workload); ok && len(c.Errors) > 0 {
				o.Status = "failed: " + c.Errors[0]
			}
		case o.Threshold == nil:
			o.Measured = new(st.Median)
			o.Status = "no reference"
		default:
			o.Measured = new(st.Median)
			v := st.Median
			if t.Metric == "allocs_per_op" {
				// Counted from runtime.MemStats over a whole pass, so the
				// runtime's own background allocations show up as a few
				// ten-thousandths per operation: compare at two decimals
				// (the exact count is asserted by the stores' unit tests).
				v = math.Round(v*100) / 100
			}
			met := v >= *o.Threshold
			if t.AtMost {
				met = v <= *o.Threshold
			}
			o.Met = new(met)
			o.Status = "MISSED"
			if met {
				o.Status = "met"
			}
			if c, _ := sum.Cell(t.Column, o.Workload); c != nil && c.Labels["cache"] != "" && t.Metric == "open_ms" {
				o.Label = c.Labels["cache"]
			}
		}
		out = append(out, o)
	}
	return out
}

// reference returns the median the target compares with.
func reference(t Target, wl string, sc workload.Scale, sum *Summary) (float64, bool) {
	var st *Stat
	var ok bool
	switch t.Ref {
	case Absolute:
		return t.Factor, true
	case Machine:
		st, ok = sum.Stat(workload.MachineColumn, "machine", t.RefMetric)
	case Peer:
		st, ok = sum.Stat(t.RefStore, wl, t.Metric)
	case Self:
		st, ok = sum.Stat(t.Column, resolve(t.RefWorkload, sc), t.RefMetric)
	}
	if !ok {
		return 0, false
	}
	return st.Median, true
}

// describeRef says what the threshold is made of ("1.15× machine
// fsync_inplace_p50_us").
func describeRef(t Target, sc workload.Scale) string {
	switch t.Ref {
	case Machine:
		return fmt.Sprintf("%s× machine %s", trimFloat(t.Factor), metricLabel(sc, "machine", t.RefMetric))
	case Peer:
		return fmt.Sprintf("%s× %s", trimFloat(t.Factor), t.RefStore)
	case Self:
		return fmt.Sprintf("%s× own %s at `%s`", trimFloat(t.Factor), metricLabel(sc, resolve(t.RefWorkload, sc), t.RefMetric), resolve(t.RefWorkload, sc))
	}
	return "absolute"
}
