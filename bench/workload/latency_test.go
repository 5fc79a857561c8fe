package workload

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 1000; i++ {
		s = append(s, time.Duration(i))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{50, 500}, {99, 990}, {99.9, 999}, {100, 1000}, {10, 100}} {
		if got := Quantile(s, c.q); got != c.want {
			t.Errorf("Quantile(%g) = %d, want %d", c.q, got, c.want)
		}
	}
	if Quantile(nil, 50) != 0 {
		t.Error("Quantile of no samples")
	}
	if got := Quantile([]time.Duration{7}, 99.9); got != 7 {
		t.Errorf("Quantile of one sample = %d", got)
	}
}

func TestPercentileKey(t *testing.T) {
	for q, want := range map[float64]string{50: "call_p50_us", 99.9: "call_p999_us", 100: "call_max_us"} {
		if got := PercentileKey("call", q); got != want {
			t.Errorf("PercentileKey(%g) = %q, want %q", q, got, want)
		}
	}
}
