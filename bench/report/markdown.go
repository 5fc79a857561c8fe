package report

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spoolhq/spool/bench/harness"
	"github.com/spoolhq/spool/bench/workload"
)

// Markdown writes the results as markdown: how they were made, the targets,
// the machine limits, one table per workload, the notes and the charts.
func Markdown(w io.Writer, res *harness.Results, sum *Summary, outcomes []Outcome, charts []string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# spool benchmark results\n\n")
	p("Command: `%s` · scale **%s** (%d repetition%s, median [min–max]) · %s · %s\n\n",
		res.Command, res.Scale.Name, res.Scale.Reps, plural(res.Scale.Reps), res.Started.Format("2006-01-02 15:04 UTC"), duration(res.Seconds))
	h := res.Host
	l3 := ""
	switch {
	case h.L3KiB >= 1024:
		l3 = fmt.Sprintf(" (L3 cache %d MiB)", h.L3KiB>>10)
	case h.L3KiB > 0:
		l3 = fmt.Sprintf(" (L3 cache %d KiB)", h.L3KiB)
	}
	p("Host: %s/%s, %s%s, %d CPUs, %d MiB RAM, kernel %s, %s. Stores write to `%s` (%s).\n\n",
		h.OS, h.Arch, orDash(h.CPU), l3, h.CPUs, h.MemMiB, orDash(h.Kernel), h.GoVersion, h.WorkDir, h.FS)
	p("Columns: %s.\n\n", columns(res))

	p("## Targets\n\n")
	p("Evaluated on spool's columns; the reference is measured in the same run.\n\n")
	p("| target | column | figure | measured | must be | reference | met? |\n|---|---|---|---|---|---|---|\n")
	for _, o := range outcomes {
		must := "—"
		if o.Threshold != nil {
			op := "≥"
			if o.Target.AtMost {
				op = "≤"
			}
			must = op + " " + num(*o.Threshold)
		}
		fig := fmt.Sprintf("`%s` %s", o.Workload, metricLabel(res.Scale, o.Workload, o.Target.Metric))
		ref := describeRef(o.Target, res.Scale)
		if o.Reference != nil && o.Target.Ref != Absolute {
			// The reference's own median; "must be" is Factor times it.
			ref += ", of " + num(*o.Reference)
		} else if o.Target.Ref != Absolute {
			ref += " (no result)"
		}
		measured := "—"
		if o.Measured != nil {
			measured = num(*o.Measured)
			if o.Label != "" {
				measured += " (" + o.Label + ")"
			}
		}
		verdict := o.Status
		if o.Met != nil && *o.Met {
			verdict = "✅ met"
		} else if o.Met != nil {
			verdict = "❌ MISSED"
		}
		p("| %s | %s | %s | %s | %s | %s | %s |\n", o.Target.Text, o.Target.Column, fig, measured, must, ref, verdict)
	}
	p("\n")

	if mw, ok := findWorkload(res, "machine"); ok {
		p("## Machine limits\n\n%s.\n\n| limit | value |\n|---|---|\n", mw.Title)
		if c, ok := sum.Cell(workload.MachineColumn, "machine"); ok {
			for _, m := range mw.Metrics {
				if st, ok := c.Metrics[m.Key]; ok && m.Headline {
					p("| %s | %s |\n", m.Label, statText(st))
				}
			}
			if len(c.Errors) > 0 {
				p("| error | %s |\n", cellEscape(c.Errors[0]))
			}
		}
		p("\n")
	}

	series := map[string]bool{}
	for _, wl := range res.Workloads {
		switch {
		case wl.Machine:
		case wl.Series != "":
			if !series[wl.Series] {
				series[wl.Series] = true
				seriesTables(w, res, sum, wl.Series)
			}
		default:
			workloadTable(w, res, sum, wl)
		}
	}

	p("## Notes\n\n")
	for _, n := range caveats(res) {
		p("- %s\n", n)
	}
	for _, s := range res.Stores {
		for _, n := range s.Notes {
			p("- %s\n", n)
		}
	}
	p("\n")
	if len(charts) > 0 {
		p("## Charts\n\n")
		for _, c := range charts {
			p("![%s](%s)\n\n", strings.TrimSuffix(c, ".svg"), c)
		}
	}
}

// workloadTable writes the table of one workload: a row per column (and the
// machine limit when a headline figure has one), a group of columns per
// headline figure.
func workloadTable(w io.Writer, res *harness.Results, sum *Summary, wl workload.Workload) {
	var ms []workload.Metric
	for _, m := range wl.Metrics {
		if m.Headline {
			ms = append(ms, m)
		}
	}
	fmt.Fprintf(w, "## %s\n\n`%s`\n\n", wl.Title, wl.Name)
	head := []string{"column"}
	for _, m := range ms {
		head = append(head, m.Label)
		if m.Ratios {
			head = append(head, "× best peer")
			if m.Limit != "" {
				head = append(head, "× limit")
			}
		}
	}
	head = append(head, "notes")
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))

	var limits []string
	hasLimit := false
	for _, m := range ms {
		v := ""
		if m.Limit != "" {
			if st, ok := sum.Stat(workload.MachineColumn, "machine", m.Limit); ok {
				v, hasLimit = num(st.Median), true
			}
		}
		limits = append(limits, v)
		if m.Ratios {
			limits = append(limits, "")
			if m.Limit != "" {
				limits = append(limits, "")
			}
		}
	}
	for _, s := range res.Stores {
		c, ok := sum.Cell(s.Name, wl.Name)
		if !ok {
			continue
		}
		row := []string{s.Name}
		for _, m := range ms {
			st, ok := c.Metrics[m.Key]
			if !ok {
				row = append(row, "—")
			} else {
				row = append(row, statText(st))
			}
			if m.Ratios {
				row = append(row, ratioCell(ok, st, func(st *Stat) *float64 { return st.PeerRatio }))
				if m.Limit != "" {
					row = append(row, ratioCell(ok, st, func(st *Stat) *float64 { return st.LimitRatio }))
				}
			}
		}
		row = append(row, cellNotes(c))
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	if hasLimit {
		row := append(append([]string{"*machine limit*"}, limits...), "")
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	fmt.Fprintln(w)
}

// seriesTables writes the workloads of a size series ("open", "write") as
// one table per headline figure: a row per column, a column per log size.
func seriesTables(w io.Writer, res *harness.Results, sum *Summary, name string) {
	var ws []workload.Workload
	for _, wl := range res.Workloads {
		if wl.Series == name {
			ws = append(ws, wl)
		}
	}
	slices.SortFunc(ws, func(a, b workload.Workload) int {
		if a.SizeMiB != b.SizeMiB {
			return a.SizeMiB - b.SizeMiB
		}
		return a.Load - b.Load
	})
	fmt.Fprintf(w, "## %s\n\n%s Workloads: %s. The best peer's ratio is in parentheses where the figure has one.\n\n",
		workload.SeriesTitle(name), workload.SeriesDescription(name), workloadNames(ws))
	labels := map[string][]string{}
	for _, m := range ws[0].Metrics {
		if !m.Headline {
			continue
		}
		head := []string{m.Label}
		for _, wl := range ws {
			head = append(head, seriesLabel(wl))
		}
		fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
		for _, s := range res.Stores {
			row := []string{s.Name}
			ran := false
			for _, wl := range ws {
				c, ok := sum.Cell(s.Name, wl.Name)
				if !ok {
					row = append(row, "")
					continue
				}
				ran = true
				for k, v := range c.Labels {
					if l := k + ": " + v; !slices.Contains(labels[s.Name], l) {
						labels[s.Name] = append(labels[s.Name], l)
					}
				}
				st, ok := c.Metrics[m.Key]
				switch {
				case !ok && len(c.Errors) > 0:
					row = append(row, "error")
				case !ok:
					row = append(row, "—")
				default:
					cell := statText(st)
					if m.Ratios && st.PeerRatio != nil {
						cell += " (" + ratio(*st.PeerRatio) + ")"
					}
					row = append(row, cell)
				}
			}
			if ran {
				fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
			}
		}
		if m.Floor != "" {
			if row, ok := floorRow(res, sum, ws, m.Floor); ok {
				fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
			}
		}
		fmt.Fprintln(w)
	}
	var notes []string
	for _, s := range res.Stores {
		if len(labels[s.Name]) > 0 {
			notes = append(notes, s.Name+": "+strings.Join(labels[s.Name], ", "))
		}
	}
	for _, wl := range ws {
		for _, s := range res.Stores {
			if c, ok := sum.Cell(s.Name, wl.Name); ok && c.OK < c.Runs {
				notes = append(notes, fmt.Sprintf("%s on %s: %d of %d runs failed: %s", s.Name, wl.Name, c.Runs-c.OK, c.Runs, cellEscape(c.Errors[0])))
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(w, "Labels and failures: %s.\n\n", strings.Join(notes, "; "))
	}
}

// seriesLabel heads a series table's column: the log size, or the load.
func seriesLabel(wl workload.Workload) string {
	if wl.Series == "loaded" {
		return fmt.Sprintf("N=%d", wl.Load)
	}
	return sizeLabel(wl.SizeMiB)
}

// floorRow is the row of the floor figure key measured beside every
// column: per workload, the median and range of every cell's floor
// measurements pooled, since each cell measured the same floor.
func floorRow(res *harness.Results, sum *Summary, ws []workload.Workload, key string) ([]string, bool) {
	row := []string{"*floor: in-place write+fdatasync*"}
	found := false
	for _, wl := range ws {
		var vs []float64
		for _, s := range res.Stores {
			if st, ok := sum.Stat(s.Name, wl.Name, key); ok {
				vs = append(vs, st.Values...)
			}
		}
		if len(vs) == 0 {
			row = append(row, "")
			continue
		}
		found = true
		slices.Sort(vs)
		row = append(row, statText(&Stat{Median: median(vs), Min: vs[0], Max: vs[len(vs)-1], N: len(vs), Values: vs}))
	}
	return row, found
}

func workloadNames(ws []workload.Workload) string {
	var names []string
	for _, wl := range ws {
		names = append(names, "`"+wl.Name+"`")
	}
	return strings.Join(names, ", ")
}

// metricLabel returns the label of a figure, its key when unknown.
func metricLabel(sc workload.Scale, wl, key string) string {
	if w, ok := workload.Find(sc, wl); ok {
		if m, ok := w.Metric(key); ok {
			return m.Label
		}
	}
	return key
}

func ratioCell(ok bool, st *Stat, get func(*Stat) *float64) string {
	if !ok {
		return ""
	}
	if r := get(st); r != nil {
		return ratio(*r)
	}
	return ""
}

// cellNotes joins a cell's labels and errors.
func cellNotes(c *Cell) string {
	var notes []string
	for _, k := range slices.Sorted(maps.Keys(c.Labels)) {
		notes = append(notes, k+": "+c.Labels[k])
	}
	if c.OK < c.Runs {
		notes = append(notes, fmt.Sprintf("%d of %d runs failed: %s", c.Runs-c.OK, c.Runs, c.Errors[0]))
	}
	return cellEscape(strings.Join(notes, "; "))
}

func cellEscape(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func columns(res *harness.Results) string {
	var parts []string
	for _, s := range res.Stores {
		v := s.Version
		if v == "" {
			v = "version unknown"
		}
		parts = append(parts, fmt.Sprintf("%s (%s, `%s` %s)", s.Name, s.Kind, s.Module, v))
	}
	registered := false
	for _, s := range res.Stores {
		if s.Kind == "subject" {
			registered = true
		}
	}
	if !registered {
		parts = append(parts, "spool: not yet registered")
	}
	return strings.Join(parts, "; ")
}

// caveats are the run-wide notes.
func caveats(res *harness.Results) []string {
	cache := "cold opens evict the log's pages first: drop_caches where permitted (labelled `cold (drop_caches)`), else posix_fadvise(DONTNEED) on the store's files (`cold (fadvise)`)."
	if res.Warm {
		cache = "this run was made with -warm: open times are warm-cache figures."
	}
	return []string{
		"Each cell (one column, one workload, one repetition) runs in its own process; the columns run in a rotated order in each repetition, so drift in the disk or the host spreads over all of them. The range [min–max] shows how much they moved.",
		"× best peer divides the column's median by the best peer's median for that figure (≥ 1 is better for throughput, ≤ 1 for time, latency and memory); × limit divides it by the machine limit measured in the same run.",
		cache,
		"Durable means each call returns after its data is on stable storage (fdatasync or fsync by the store). The machine limit for latency is a 4 KiB in-place write + fdatasync on a preallocated, already written file.",
		"Memory: RSS is VmRSS from /proc/self/status (anonymous + file-backed, mapped log pages included); anon RSS is RssAnon; peak is VmHWM, reset just before the open.",
		"Disk space counts allocated blocks (st_blocks, as du does), so preallocated segment space counts.",
	}
}

func findWorkload(res *harness.Results, name string) (workload.Workload, bool) {
	for _, w := range res.Workloads {
		if w.Name == name {
			return w, true
		}
	}
	return workload.Workload{}, false
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
