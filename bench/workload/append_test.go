package workload

import (
	"testing"

	"github.com/hashicorp/raft"

	"github.com/spoolhq/spool/bench/peers/raftwal"
	"github.com/spoolhq/spool/bench/store"
)

// callCounter counts StoreLogs calls by batch length.
type callCounter struct {
	store.Store
	byLen map[int]int
	order []int
}

func (c *callCounter) StoreLogs(logs []*raft.Log) error {
	c.byLen[len(logs)]++
	c.order = append(c.order, len(logs))
	return c.Store.StoreLogs(logs)
}

// TestAppendPrefill: the append workloads write AppendPrefillMiB of 1 KiB
// entries (256 per call) before any call of their own shape, say so in a
// label, and write nothing first when the prefill is 0.
func TestAppendPrefill(t *testing.T) {
	for _, pre := range []int{0, 1} {
		var cc *callCounter
		spec := raftwal.Spec()
		open := spec.Open
		spec.Open = func(dir string) (store.Store, error) {
			s, err := open(dir)
			if err != nil {
				return nil, err
			}
			cc = &callCounter{Store: s, byLen: map[int]int{}}
			return cc, nil
		}
		sc := Test
		sc.AppendPrefillMiB = pre
		r, err := append128x64().Run(&Env{Spec: spec, Dir: t.TempDir(), Scale: sc})
		if err != nil {
			t.Fatal(err)
		}
		want := pre * mib / (256 * 1024)
		if cc.byLen[256] != want {
			t.Errorf("prefill %d MiB: %d calls of 256 entries, want %d", pre, cc.byLen[256], want)
		}
		for i, n := range cc.order[:want] {
			if n != 256 {
				t.Fatalf("prefill %d MiB: call %d stored %d entries before the prefill ended", pre, i, n)
			}
		}
		if got := r.Labels["prefill"]; (pre > 0) != (got != "") {
			t.Errorf("prefill %d MiB: label %q", pre, got)
		}
		if cc.byLen[64] != sc.Append128Calls+min(max(sc.Append128Calls/10, 1), 20) {
			t.Errorf("prefill %d MiB: %d calls of 64 entries", pre, cc.byLen[64])
		}
	}
}
