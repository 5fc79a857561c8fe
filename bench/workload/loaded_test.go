package workload

import (
	"runtime"
	"strings"
	"testing"

	"github.com/spoolhq/spool/bench/peers/boltdb"
	"github.com/spoolhq/spool/bench/spoolstore"
	"github.com/spoolhq/spool/bench/store"
)

// TestLoadedWorkload runs the loaded workload with load on a raft.LogStore
// column, on the ReadyStore column and on a peer, and checks the figures
// and that the load goroutines are gone afterwards.
func TestLoadedWorkload(t *testing.T) {
	for _, spec := range []store.Spec{spoolstore.Spec(), spoolstore.EtcdSpec(), boltdb.Spec()} {
		t.Run(spec.Name, func(t *testing.T) {
			w := loadedSeries(2)
			if !w.Supports(spec) {
				t.Fatalf("%s does not support %s", w.Name, spec.Name)
			}
			r, err := w.Run(&Env{Spec: spec, Dir: t.TempDir(), Scale: Test})
			if err != nil {
				t.Fatal(err)
			}
			m := r.Metrics
			if m["calls"] < 1 || m["calls"] > float64(Test.LoadedCalls) {
				t.Errorf("calls = %v", m["calls"])
			}
			for _, k := range []string{"call_p50_us", "call_p99_us", "floor_p50_us", "floor_p99_us", "call_mean_us", "load_mibps"} {
				if m[k] <= 0 {
					t.Errorf("%s = %v, want > 0", k, m[k])
				}
			}
			if got, want := m["floor_ratio_p50"], m["call_p50_us"]/m["floor_p50_us"]; got != want {
				t.Errorf("floor_ratio_p50 = %v, want %v", got, want)
			}
			for _, metric := range w.Metrics {
				if _, ok := m[metric.Key]; !ok {
					t.Errorf("figure %s not reported", metric.Key)
				}
			}
			buf := make([]byte, 1<<20)
			if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "startCPULoad") {
				t.Errorf("load goroutines still running:\n%s", stacks)
			}
		})
	}
}

// TestLoadedSupports: the loaded workloads run on LogStore and Ready
// columns alike, the other workloads not on a Ready-only column.
func TestLoadedSupports(t *testing.T) {
	ready := spoolstore.EtcdSpec()
	for _, w := range List(Test) {
		want := w.Series == "loaded"
		if got := w.Supports(ready); got != want && !w.Machine {
			t.Errorf("%s.Supports(%s) = %v, want %v", w.Name, ready.Name, got, want)
		}
	}
	if len(LoadLevels) != 3 || LoadLevels[0] != 0 {
		t.Errorf("LoadLevels = %v", LoadLevels)
	}
}
