package report

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spoolhq/spool/bench/harness"
	"github.com/spoolhq/spool/bench/workload"
)

// palette colours the peers in column order; spool's columns take the
// strong colours of subjects.
var (
	peerPalette    = []string{"#4e79a7", "#59a14f", "#b07aa1", "#9c755f", "#76b7b2", "#edc948", "#bab0ac", "#ff9da7"}
	subjectPalette = []string{"#e15759", "#f28e2b", "#8c1c13"}
	machineColor   = "#555555"
)

func colors(res *harness.Results) map[string]string {
	m := map[string]string{workload.MachineColumn: machineColor}
	var p, s int
	for _, st := range res.Stores {
		if st.Kind == "subject" {
			m[st.Name] = subjectPalette[s%len(subjectPalette)]
			s++
		} else {
			m[st.Name] = peerPalette[p%len(peerPalette)]
			p++
		}
	}
	return m
}

// chart is one SVG file.
type chart struct {
	file string
	svg  []byte
}

// charts draws every chart the run has data for.
func charts(res *harness.Results, sum *Summary) []chart {
	col := colors(res)
	sub := fmt.Sprintf("scale %s, %d repetition%s: median, whiskers min–max; %s", res.Scale.Name, res.Scale.Reps, plural(res.Scale.Reps), res.Started.Format("2006-01-02"))
	var out []chart
	if panels := throughputPanels(res, sum, col); len(panels) > 0 {
		out = append(out, chart{"throughput.svg", barChart("Throughput and DeleteRange", sub, panels)})
	}
	if panels := latencyPanels(res, sum, col); len(panels) > 0 {
		out = append(out, chart{"latency.svg", lineChart("Durable append latency distribution", sub, panels)})
	}
	if len(sizeTicks(res, "open")) > 0 {
		out = append(out, chart{"open-time.svg", lineChart("Open time against log size", sub+"; cold = "+cacheLabel(sum), []linePanel{
			seriesPanel(res, sum, col, "open", "open_ms", "open, cold cache (ms)", "open ms"),
			seriesPanel(res, sum, col, "open", "open_warm_ms", "open, warm cache (ms)", "open ms"),
		})})
		out = append(out, chart{"memory.svg", lineChart("Memory against log size", sub, []linePanel{
			seriesPanel(res, sum, col, "open", "rss_open_mib", "RSS after open (MiB)", "MiB"),
			seriesPanel(res, sum, col, "write", "rss_peak_mib", "peak RSS while writing the log (MiB)", "MiB"),
		})})
	}
	return out
}

func cacheLabel(sum *Summary) string {
	var labels []string
	for _, c := range sum.Cells {
		if l := c.Labels["cache"]; l != "" && l != "warm" && !slices.Contains(labels, l) {
			labels = append(labels, l)
		}
	}
	if len(labels) == 0 {
		return "warm (no eviction)"
	}
	return strings.Join(labels, ", ")
}

func throughputPanels(res *harness.Results, sum *Summary, col map[string]string) []barPanel {
	specs := []struct{ wl, metric, title string }{
		{"append-128x64", "entries_per_s", "append 128 B × 64, durable: entries/s"},
		{"append-1k", "entries_per_s", "append one 1 KiB, durable: entries/s"},
		{"append-256kx4", "mib_per_s", "append 256 KiB × 4, durable: MiB/s"},
		{"group-commit", "entries_per_s", "concurrent producers × 1 KiB, durable: entries/s"},
		{"read-seq", "entries_per_s", "sequential GetLog: entries/s"},
		{"read-rand", "entries_per_s", "random GetLog: entries/s"},
		{"read-view-4k", "mib_per_s", "native zero-copy read 4 KiB: MiB/s"},
		{"delete-half", "delete_ms", "DeleteRange oldest half: ms (lower is better)"},
		{"delete-half", "reclaimed_pct", "DeleteRange oldest half: % disk reclaimed at once"},
	}
	var panels []barPanel
	for _, s := range specs {
		w, ok := findWorkload(res, s.wl)
		if !ok {
			continue
		}
		m, _ := w.Metric(s.metric)
		p := barPanel{title: s.title}
		for _, st := range res.Stores {
			v, ok := sum.Stat(st.Name, s.wl, s.metric)
			if !ok {
				continue
			}
			ann := num(v.Median)
			if v.PeerRatio != nil && st.Kind != "peer" {
				ann += " (" + ratio(*v.PeerRatio) + " best peer)"
			}
			p.bars = append(p.bars, bar{label: st.Name, v: v.Median, lo: v.Min, hi: v.Max, color: col[st.Name], annotation: ann})
		}
		if m.Limit != "" {
			if l, ok := sum.Stat(workload.MachineColumn, "machine", m.Limit); ok {
				p.limit, p.limitLabel = l.Median, "machine "+num(l.Median)
			}
		}
		if len(p.bars) > 0 {
			panels = append(panels, p)
		}
	}
	return panels
}

func latencyPanels(res *harness.Results, sum *Summary, col map[string]string) []linePanel {
	var ticks []tick
	for i, q := range workload.Percentiles {
		label := fmt.Sprintf("p%g", q)
		if q == 100 {
			label = "max"
		}
		ticks = append(ticks, tick{float64(i), label})
	}
	specs := []struct {
		wl, prefix, title string
		machine           bool
	}{
		{"append-1k", "call", "one 1 KiB entry per call", true},
		{"append-128x64", "call", "128 B × 64 per call", true},
		{"group-commit", "entry", "concurrent producers, per entry", false},
	}
	var panels []linePanel
	for _, s := range specs {
		if _, ok := findWorkload(res, s.wl); !ok {
			continue
		}
		p := linePanel{title: s.title, xLabel: "percentile", yLabel: "latency µs", logY: true, xTicks: ticks}
		add := func(name, wl, prefix, dash string) {
			sr := series{name: name, color: col[name], dash: dash}
			for i, q := range workload.Percentiles {
				if v, ok := sum.Stat(name, wl, workload.PercentileKey(prefix, q)); ok {
					sr.points = append(sr.points, point{float64(i), v.Median, v.Min, v.Max})
				}
			}
			if len(sr.points) > 0 {
				p.series = append(p.series, sr)
			}
		}
		for _, st := range res.Stores {
			add(st.Name, s.wl, s.prefix, "")
		}
		if s.machine {
			n := len(p.series)
			add(workload.MachineColumn, "machine", "fsync_inplace", "5,4")
			if len(p.series) > n {
				p.series[n].name = "machine: 4 KiB in-place write+fdatasync"
			}
		}
		if len(p.series) > 0 {
			panels = append(panels, p)
		}
	}
	return panels
}

// sizeTicks returns the log sizes of a series.
func sizeTicks(res *harness.Results, name string) []tick {
	var ticks []tick
	for _, w := range res.Workloads {
		if w.Series == name {
			ticks = append(ticks, tick{float64(w.SizeMiB), sizeLabel(w.SizeMiB)})
		}
	}
	slices.SortFunc(ticks, func(a, b tick) int { return int(a.v - b.v) })
	return ticks
}

func sizeLabel(mib int) string {
	if mib >= 1024 && mib%1024 == 0 {
		return fmt.Sprintf("%d GiB", mib/1024)
	}
	return fmt.Sprintf("%d MiB", mib)
}

// seriesPanel draws one figure of a size series for every column.
func seriesPanel(res *harness.Results, sum *Summary, col map[string]string, seriesName, metric, title, yLabel string) linePanel {
	p := linePanel{title: title, xLabel: "log size", yLabel: yLabel, logX: true, logY: true, xTicks: sizeTicks(res, seriesName)}
	for _, st := range res.Stores {
		sr := series{name: st.Name, color: col[st.Name]}
		for _, w := range res.Workloads {
			if w.Series != seriesName {
				continue
			}
			if v, ok := sum.Stat(st.Name, w.Name, metric); ok {
				sr.points = append(sr.points, point{float64(w.SizeMiB), v.Median, v.Min, v.Max})
			}
		}
		if len(sr.points) > 0 {
			p.series = append(p.series, sr)
		}
	}
	return p
}
