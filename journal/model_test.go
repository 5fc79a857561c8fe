package journal

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/spoolhq/spool/stream"
)

// modelSteps is the number of random operations per seed; SPOOL_MODEL_STEPS
// raises it for long runs.
func modelSteps() int { return envInt("SPOOL_MODEL_STEPS", 400) }

// TestModelRandomOps runs random operations (appends of every size,
// batches, failed appends, truncations at both ends, resets, meta writes)
// against the journal and an in-memory oracle, reopening after clean closes
// and simulated crashes, and checks that the journal always equals the
// oracle.
//
// SPOOL_MODEL_SEEDS (default 4) and SPOOL_MODEL_STEPS (default 400) scale
// it; a failing seed is in the subtest name and SPOOL_MODEL_TRACE=1 logs
// every step.
func TestModelRandomOps(t *testing.T) {
	seeds := uint64(4)
	if n, err := strconv.ParseUint(os.Getenv("SPOOL_MODEL_SEEDS"), 10, 64); err == nil && n > 0 {
		seeds = n
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		t.Run(strconv.FormatUint(seed, 10), func(t *testing.T) {
			runModel(t, seed, modelSteps())
		})
	}
}

type oracle struct {
	first   uint64
	entries [][]byte // entries[i] has index first+i
	meta    map[string]string
}

func (o *oracle) last() uint64 { return o.first + uint64(len(o.entries)) - 1 }

func runModel(t *testing.T, seed uint64, steps int) {
	rng := rand.New(rand.NewPCG(seed, seed*7919))
	dir := t.TempDir()
	opts := &Options{SegmentSize: testSegSize, Sync: SyncPolicy(rng.IntN(3))}
	j := mustOpen(t, dir, opts)
	defer func() { closeOK(t, j) }() // the j reopened last
	o := &oracle{first: 1, meta: map[string]string{}}
	size := func() int {
		switch rng.IntN(10) {
		case 0:
			return 0
		case 1:
			return testSegSize + rng.IntN(2*testSegSize) // spans segments
		case 2:
			return 4000 + rng.IntN(8000)
		}
		return rng.IntN(600)
	}
	boom := errors.New("boom")
	trace := os.Getenv("SPOOL_MODEL_TRACE") != ""
	for step := 0; step < steps; step++ {
		op := rng.IntN(100)
		if trace {
			t.Logf("step %d op %d: journal [%d,%d] oracle [%d,%d]", step, op, j.FirstIndex(), j.LastIndex(), o.first, o.last())
		}
		switch {
		case op < 40:
			p := payload(rng.Uint64(), size())
			idx, err := j.AppendBytes(p)
			if err != nil || idx != o.last()+1 {
				t.Fatalf("step %d: append = %d, %v; want %d", step, idx, err, o.last()+1)
			}
			o.entries = append(o.entries, p)
		case op < 55:
			n := 1 + rng.IntN(5)
			var ps [][]byte
			fail := rng.IntN(4) == 0
			_, _, err := j.AppendBatch(func(b *Batch) error {
				for i := 0; i < n; i++ {
					p := payload(rng.Uint64(), size())
					if _, err := b.Append(func(w *stream.Writer) error {
						_, err := w.Write(p)
						return err
					}); err != nil {
						return err
					}
					ps = append(ps, p)
				}
				if fail {
					return boom
				}
				return nil
			})
			if fail != (err != nil) {
				t.Fatalf("step %d: batch err %v, fail %v", step, err, fail)
			}
			if !fail {
				o.entries = append(o.entries, ps...)
			}
		case op < 60:
			_, err := j.Append(func(w *stream.Writer) error {
				_, _ = w.Write(make([]byte, size())) // the abort below, not this write, is under test
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("step %d: failed append returned %v", step, err)
			}
		case op < 67 && len(o.entries) > 0:
			k := rng.IntN(len(o.entries) + 1) // keep k entries
			if err := j.TruncateBack(o.first + uint64(k) - 1); err != nil {
				t.Fatalf("step %d: TruncateBack: %v", step, err)
			}
			o.entries = o.entries[:k]
		case op < 74 && len(o.entries) > 0:
			k := rng.IntN(len(o.entries) + 1) // drop k entries
			if err := j.TruncateFront(o.first + uint64(k)); err != nil {
				t.Fatalf("step %d: TruncateFront: %v", step, err)
			}
			o.entries = o.entries[k:]
			o.first += uint64(k)
		case op < 76:
			next := o.last() + 1 + uint64(rng.IntN(100))
			if err := j.Reset(next); err != nil {
				t.Fatalf("step %d: Reset: %v", step, err)
			}
			o.first, o.entries = next, nil
		case op < 82:
			k := "k" + strconv.Itoa(rng.IntN(5))
			v := strconv.FormatUint(rng.Uint64(), 36)
			if err := j.SetMeta(k, []byte(v)); err != nil {
				t.Fatal(err)
			}
			o.meta[k] = v
		case op < 88:
			if err := j.Sync(); err != nil {
				t.Fatal(err)
			}
			j.crashClose()
			j = mustOpen(t, dir, opts)
			checkModel(t, step, j, o)
		case op < 94:
			if err := j.Close(); err != nil {
				t.Fatal(err)
			}
			j = mustOpen(t, dir, opts)
			checkModel(t, step, j, o)
		default:
			checkModel(t, step, j, o)
		}
	}
	checkModel(t, steps, j, o)
}

func checkModel(t *testing.T, step int, j *Journal, o *oracle) {
	t.Helper()
	if j.FirstIndex() != o.first || j.LastIndex() != o.last() {
		t.Fatalf("step %d: range [%d,%d], oracle [%d,%d]", step, j.FirstIndex(), j.LastIndex(), o.first, o.last())
	}
	for i, want := range o.entries {
		got, err := j.ReadBytes(o.first+uint64(i), nil)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("step %d: entry %d: %v (len %d, want %d)", step, o.first+uint64(i), err, len(got), len(want))
		}
	}
	for k, v := range o.meta {
		if got, _ := j.Meta(k); string(got) != v {
			t.Fatalf("step %d: meta %s = %q, want %q", step, k, got, v)
		}
	}
}
