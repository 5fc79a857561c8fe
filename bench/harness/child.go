package harness

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"time"

	"github.com/spoolhq/spool/bench/store"
	"github.com/spoolhq/spool/bench/workload"
)

// IsChild reports whether this process was started by the driver to run a
// cell.
func IsChild() bool { return os.Getenv(EnvCell) != "" }

// ChildMain runs the cell named by the environment against the columns of
// reg, writes its Record as one JSON line to standard output and returns
// the process exit code (0 when the record was written, even for a failed
// cell: the record carries the error). Anything the stores print is sent to
// standard error instead, so it cannot corrupt the record.
func ChildMain(reg *store.Registry) int {
	out := os.Stdout
	os.Stdout = os.Stderr
	t0 := time.Now()
	var c Cell
	var rec Record
	if err := json.Unmarshal([]byte(os.Getenv(EnvCell)), &c); err != nil {
		rec.Error = fmt.Sprintf("bad %s: %v", EnvCell, err)
	} else {
		rec = runCell(reg, c)
	}
	rec.Seconds = time.Since(t0).Seconds()
	if err := json.NewEncoder(out).Encode(rec); err != nil {
		fmt.Fprintln(os.Stderr, "spoolbench child:", err)
		return 2
	}
	return 0
}

func runCell(reg *store.Registry, c Cell) (rec Record) {
	rec = Record{Rep: c.Rep, Store: c.Store, Workload: c.Workload}
	defer func() {
		if p := recover(); p != nil {
			rec.Error = fmt.Sprintf("panic: %v", p)
		}
	}()
	w, ok := workload.Find(c.Scale, c.Workload)
	if !ok {
		rec.Error = fmt.Sprintf("unknown workload %q", c.Workload)
		return rec
	}
	env := &workload.Env{Dir: c.Dir, Fixture: c.Fixture, Scale: c.Scale, Warm: c.Warm}
	if !w.Machine {
		spec, ok := reg.Lookup(c.Store)
		if !ok {
			rec.Error = fmt.Sprintf("unknown store %q", c.Store)
			return rec
		}
		env.Spec = spec
	}
	res, err := w.Run(env)
	if err != nil {
		rec.Error = err.Error()
		return rec
	}
	rec.Metrics, rec.Labels = map[string]float64{}, res.Labels
	for k, v := range res.Metrics {
		if !math.IsNaN(v) && !math.IsInf(v, 0) { // JSON has no NaN or Inf
			rec.Metrics[k] = v
		}
	}
	return rec
}
