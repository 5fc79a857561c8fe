package workload

import (
	"testing"

	"github.com/hashicorp/raft"

	"github.com/spoolhq/spool/bench/peers/raftwal"
	"github.com/spoolhq/spool/bench/spoolstore"
	"github.com/spoolhq/spool/bench/store"
)

// countingStore counts DeleteRange calls and the ranges they cut.
type countingStore struct {
	store.Store
	cuts  int
	sizes []uint64
}

func (c *countingStore) DeleteRange(min, max uint64) error {
	c.cuts++
	c.sizes = append(c.sizes, max-min+1)
	return c.Store.DeleteRange(min, max)
}

// TestDeleteSuffixWorkload: every round cuts exactly the newest
// SuffixCutEntries entries, the cuts are timed and reported, and the log
// ends as long as it was (each cut tail is stored again).
func TestDeleteSuffixWorkload(t *testing.T) {
	for _, spec := range []store.Spec{spoolstore.Spec(), raftwal.Spec()} {
		t.Run(spec.Name, func(t *testing.T) {
			var cs *countingStore
			var last uint64
			counted := spec
			counted.Open = func(dir string) (store.Store, error) {
				s, err := spec.Open(dir)
				if err != nil {
					return nil, err
				}
				cs = &countingStore{Store: &lastTracker{Store: s, last: &last}}
				return cs, nil
			}
			w := deleteSuffix()
			r, err := w.Run(&Env{Spec: counted, Dir: t.TempDir(), Scale: Test})
			if err != nil {
				t.Fatal(err)
			}
			if cs.cuts != Test.SuffixCuts || r.Metrics["cuts"] != float64(Test.SuffixCuts) {
				t.Fatalf("%d DeleteRange calls, %v reported, want %d", cs.cuts, r.Metrics["cuts"], Test.SuffixCuts)
			}
			for i, n := range cs.sizes {
				if n != SuffixCutEntries {
					t.Fatalf("cut %d removed %d entries, want %d", i, n, SuffixCutEntries)
				}
			}
			entries := (int64(Test.SuffixMiB)*mib + SuffixCutEntries*1024 - 1) / (SuffixCutEntries * 1024) * SuffixCutEntries
			if last != uint64(entries) {
				t.Errorf("last index stored %d, want %d", last, entries)
			}
			for _, m := range w.Metrics {
				if _, ok := r.Metrics[m.Key]; !ok {
					t.Errorf("figure %s not reported", m.Key)
				}
			}
			if r.Metrics["cut_p50_us"] <= 0 || r.Metrics["cut_max_us"] < r.Metrics["cut_p50_us"] {
				t.Errorf("cut latencies: p50 %v max %v", r.Metrics["cut_p50_us"], r.Metrics["cut_max_us"])
			}
		})
	}
}

// lastTracker records the highest index stored.
type lastTracker struct {
	store.Store
	last *uint64
}

func (l *lastTracker) StoreLogs(logs []*raft.Log) error {
	if err := l.Store.StoreLogs(logs); err != nil {
		return err
	}
	*l.last = logs[len(logs)-1].Index
	return nil
}

// TestDeleteHalfReportsStatfs: the prefix workload reports the space
// statfs sees freed beside the blocks du sees freed.
func TestDeleteHalfReportsStatfs(t *testing.T) {
	r, err := deleteHalf().Run(&Env{Spec: raftwal.Spec(), Dir: t.TempDir(), Scale: Test})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Metrics["reclaimed_statfs_pct"]; !ok {
		t.Fatal("reclaimed_statfs_pct not reported")
	}
	if _, ok := deleteHalf().Metric("reclaimed_statfs_pct"); !ok {
		t.Fatal("reclaimed_statfs_pct not described")
	}
}
