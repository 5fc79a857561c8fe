package harness

import (
	"slices"

	"github.com/spoolhq/spool/bench/store"
	"github.com/spoolhq/spool/bench/workload"
)

// step is one process the driver runs.
type step struct {
	cell Cell
	// fixture is the key of the fixture the step reads or (for a build)
	// writes; empty when none.
	fixture string
	// release lists the fixtures whose last use this step is.
	release []string
}

// fixtureKey names the read-only log built by build on store.
func fixtureKey(storeName, build string) string { return storeName + "\x00" + build }

// rotate returns specs rotated left by n: the column order of repetition n,
// so that no store always runs first (or right after another one).
func rotate(specs []store.Spec, n int) []store.Spec {
	if len(specs) == 0 {
		return nil
	}
	n %= len(specs)
	return append(slices.Clone(specs[n:]), specs[:n]...)
}

// plan orders the cells: per repetition the machine limits and the
// workloads on fresh logs, every workload's stores in that repetition's
// rotated order; then the open series, size by size (so that a size's logs
// are removed before the next size is built). A build step is inserted
// before the first cell that reads its log, and every fixture is released
// after its last reader.
func plan(ws []workload.Workload, specs []store.Spec, sc workload.Scale) []step {
	var cells []step
	add := func(rep int, w workload.Workload, col string) {
		cells = append(cells, step{cell: Cell{Rep: rep, Store: col, Workload: w.Name}})
		if w.Fixture != "" {
			cells[len(cells)-1].fixture = fixtureKey(col, w.Fixture)
		}
	}
	for rep := range sc.Reps {
		for _, w := range ws {
			switch {
			case w.Build || w.Series == "open":
				continue
			case w.Machine:
				add(rep, w, workload.MachineColumn)
				continue
			}
			for _, s := range rotate(specs, rep) {
				if w.Supports(s) {
					add(rep, w, s.Name)
				}
			}
		}
	}
	for _, w := range ws {
		if w.Series != "open" {
			continue
		}
		for rep := range sc.Reps {
			for _, s := range rotate(specs, rep) {
				if w.Supports(s) {
					add(rep, w, s.Name)
				}
			}
		}
	}

	// Insert builds before first use.
	var steps []step
	built := map[string]bool{}
	for _, c := range cells {
		if c.fixture != "" && !built[c.fixture] {
			built[c.fixture] = true
			w, _ := workload.Find(sc, fixtureBuild(ws, c.cell.Workload))
			steps = append(steps, step{
				cell:    Cell{Store: c.cell.Store, Workload: w.Name},
				fixture: c.fixture,
			})
		}
		steps = append(steps, c)
	}
	// Release after last use.
	last := map[string]int{}
	for i, s := range steps {
		if s.fixture != "" {
			last[s.fixture] = i
		}
	}
	for key, i := range last {
		steps[i].release = append(steps[i].release, key)
	}
	return steps
}

// fixtureBuild returns the build workload of the workload named name.
func fixtureBuild(ws []workload.Workload, name string) string {
	for _, w := range ws {
		if w.Name == name {
			return w.Fixture
		}
	}
	return ""
}
