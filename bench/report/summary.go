package report

import (
	"slices"
	"sort"
	"strings"

	"github.com/spoolhq/spool/bench/harness"
	"github.com/spoolhq/spool/bench/workload"
)

// Stat summarizes one figure over the repetitions of a cell.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	// N counts the values (the records hold them).
	N      int       `json:"n"`
	Values []float64 `json:"-"`
	// BestPeer is the peer column with the best median of this figure in
	// this workload, and PeerRatio this median divided by that one.
	BestPeer  string   `json:"best_peer,omitempty"`
	PeerRatio *float64 `json:"ratio_best_peer,omitempty"`
	// LimitRatio is this median divided by the machine limit the figure is
	// compared with (Metric.Limit).
	LimitRatio *float64 `json:"ratio_limit,omitempty"`
}

// Cell summarizes the repetitions of one column on one workload.
type Cell struct {
	Store    string `json:"store"`
	Workload string `json:"workload"`
	// Runs and OK count the repetitions and the successful ones.
	Runs int `json:"runs"`
	OK   int `json:"ok"`
	// Metrics maps a figure's key to its summary.
	Metrics map[string]*Stat `json:"metrics"`
	// Labels joins the distinct values each label took.
	Labels map[string]string `json:"labels,omitempty"`
	// Errors lists the distinct errors of failed repetitions.
	Errors []string `json:"errors,omitempty"`
}

// Summary is every cell's summary, in workload then column order.
type Summary struct {
	Cells []*Cell `json:"cells"`
	index map[[2]string]*Cell
}

// Cell returns the summary of store on workload.
func (s *Summary) Cell(store, wl string) (*Cell, bool) {
	c, ok := s.index[[2]string{store, wl}]
	return c, ok
}

// Stat returns the summary of one figure.
func (s *Summary) Stat(store, wl, metric string) (*Stat, bool) {
	c, ok := s.Cell(store, wl)
	if !ok {
		return nil, false
	}
	st, ok := c.Metrics[metric]
	return st, ok
}

// Summarize computes medians, ranges and ratios from res.
func Summarize(res *harness.Results) *Summary {
	s := &Summary{index: map[[2]string]*Cell{}}
	labels := map[[2]string]map[string][]string{}
	for _, r := range res.Records {
		k := [2]string{r.Store, r.Workload}
		c, ok := s.index[k]
		if !ok {
			c = &Cell{Store: r.Store, Workload: r.Workload, Metrics: map[string]*Stat{}}
			s.index[k] = c
			labels[k] = map[string][]string{}
		}
		c.Runs++
		if !r.OK() {
			if !slices.Contains(c.Errors, r.Error) {
				c.Errors = append(c.Errors, r.Error)
			}
			continue
		}
		c.OK++
		for m, v := range r.Metrics {
			st := c.Metrics[m]
			if st == nil {
				st = &Stat{}
				c.Metrics[m] = st
			}
			st.Values = append(st.Values, v)
		}
		for l, v := range r.Labels {
			if !slices.Contains(labels[k][l], v) {
				labels[k][l] = append(labels[k][l], v)
			}
		}
	}
	for k, c := range s.index {
		for _, st := range c.Metrics {
			v := slices.Sorted(slices.Values(st.Values))
			st.Min, st.Max, st.Median, st.N = v[0], v[len(v)-1], median(v), len(v)
		}
		if len(labels[k]) > 0 {
			c.Labels = map[string]string{}
			for l, vs := range labels[k] {
				c.Labels[l] = strings.Join(vs, "; ")
			}
		}
	}
	s.order(res)
	s.ratios(res)
	return s
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// order sorts the cells by workload run order, then column order.
func (s *Summary) order(res *harness.Results) {
	wpos := map[string]int{}
	for i, w := range res.Workloads {
		wpos[w.Name] = i
	}
	spos := map[string]int{workload.MachineColumn: -1}
	for i, st := range res.Stores {
		spos[st.Name] = i
	}
	for _, c := range s.index {
		s.Cells = append(s.Cells, c)
	}
	sort.Slice(s.Cells, func(i, j int) bool {
		a, b := s.Cells[i], s.Cells[j]
		if wpos[a.Workload] != wpos[b.Workload] {
			return wpos[a.Workload] < wpos[b.Workload]
		}
		return spos[a.Store] < spos[b.Store]
	})
}

// ratios fills the best-peer and machine-limit ratios of every figure.
func (s *Summary) ratios(res *harness.Results) {
	peers := map[string]bool{}
	for _, st := range res.Stores {
		if st.Kind == "peer" {
			peers[st.Name] = true
		}
	}
	for _, w := range res.Workloads {
		for _, m := range w.Metrics {
			var best string
			var bestV float64
			for _, st := range res.Stores {
				v, ok := s.Stat(st.Name, w.Name, m.Key)
				if !ok || !peers[st.Name] {
					continue
				}
				if best == "" || (m.Better == workload.Higher && v.Median > bestV) || (m.Better == workload.Lower && v.Median < bestV) {
					best, bestV = st.Name, v.Median
				}
			}
			limit, hasLimit := s.Stat(workload.MachineColumn, "machine", m.Limit)
			for _, st := range res.Stores {
				v, ok := s.Stat(st.Name, w.Name, m.Key)
				if !ok {
					continue
				}
				if best != "" && m.Better != workload.Neutral && bestV != 0 {
					v.BestPeer, v.PeerRatio = best, new(v.Median/bestV)
				}
				if m.Limit != "" && hasLimit && limit.Median != 0 {
					v.LimitRatio = new(v.Median / limit.Median)
				}
			}
		}
	}
}
