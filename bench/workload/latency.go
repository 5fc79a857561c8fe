package workload

import (
	"fmt"
	"slices"
	"time"
)

// Percentiles are the points of a latency distribution the results keep:
// the headline p50, p99 and p99.9 and the curve the charts draw.
var Percentiles = []float64{10, 25, 50, 75, 90, 99, 99.9, 100}

// PercentileKey is the metric key of percentile q of a distribution named
// prefix ("call" and 99.9 give "call_p999_us"; 100 gives "call_max_us").
func PercentileKey(prefix string, q float64) string {
	if q >= 100 {
		return prefix + "_max_us"
	}
	s := fmt.Sprintf("%g", q)
	return prefix + "_p" + stripDot(s) + "_us"
}

func stripDot(s string) string {
	out := make([]byte, 0, len(s))
	for i := range len(s) {
		if s[i] != '.' {
			out = append(out, s[i])
		}
	}
	return string(out)
}

// Quantile returns the q-th percentile (0 < q ≤ 100) of sorted samples by
// nearest rank.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(q/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// addLatencies sorts samples and records every percentile of Percentiles
// under prefix, in microseconds.
func addLatencies(r Result, prefix string, samples []time.Duration) {
	slices.Sort(samples)
	for _, q := range Percentiles {
		r.Metrics[PercentileKey(prefix, q)] = float64(Quantile(samples, q)) / float64(time.Microsecond)
	}
}

// latencyMetrics describes the distribution under prefix; the p50, p99 and
// p99.9 are headline figures, compared with the machine's in-place write +
// fdatasync latency when limit is set.
func latencyMetrics(prefix, what string, limit bool) []Metric {
	var ms []Metric
	for _, q := range Percentiles {
		m := Metric{Key: PercentileKey(prefix, q), Label: fmt.Sprintf("%s p%g µs", what, q), Better: Lower}
		if q == 100 {
			m.Label = what + " max µs"
		}
		switch q {
		case 50, 99, 99.9:
			m.Headline = true
			if limit {
				m.Limit = PercentileKey("fsync_inplace", q)
			}
		}
		if q == 50 {
			m.Ratios = true
		}
		ms = append(ms, m)
	}
	return ms
}
