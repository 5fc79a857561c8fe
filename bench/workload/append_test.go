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

// TestAppendSpread: with a spread, the timed calls come in bursts with
// untimed fills of 256 × 1 KiB between them, and the last burst starts
// past 7/8 of the spread; with a spread of 0 nothing but the workload's
// own calls is written.
func TestAppendSpread(t *testing.T) {
	for _, spread := range []int{0, 1} {
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
		sc.AppendSpreadMiB = spread
		r, err := append128x64().Run(&Env{Spec: spec, Dir: t.TempDir(), Scale: sc})
		if err != nil {
			t.Fatal(err)
		}
		warm := min(max(sc.Append128Calls/10, 1), 20)
		if cc.byLen[64] != sc.Append128Calls+warm {
			t.Errorf("spread %d MiB: %d calls of 64 entries, want %d", spread, cc.byLen[64], sc.Append128Calls+warm)
		}
		if got := r.Labels["spread"]; (spread > 0) != (got != "") {
			t.Errorf("spread %d MiB: label %q", spread, got)
		}
		if spread == 0 {
			if cc.byLen[256] != 0 {
				t.Errorf("spread 0: %d fill calls", cc.byLen[256])
			}
			continue
		}
		// Bytes written before the last burst: the last fill call is
		// followed only by the last burst's calls.
		lastFill := -1
		for i, n := range cc.order {
			if n == 256 {
				lastFill = i
			}
		}
		if lastFill < 0 {
			t.Fatalf("spread %d MiB: no fill between bursts", spread)
		}
		var before int
		for _, n := range cc.order[:lastFill+1] {
			before += n * map[int]int{64: 128, 256: 1024}[n]
		}
		if want := spread * mib * (appendBursts - 1) / appendBursts; before < want {
			t.Errorf("spread %d MiB: last burst starts after %d bytes, want ≥ %d", spread, before, want)
		}
		if tail := len(cc.order) - lastFill - 1; tail != sc.Append128Calls-sc.Append128Calls*(appendBursts-1)/appendBursts {
			t.Errorf("spread %d MiB: %d calls after the last fill", spread, tail)
		}
	}
}
