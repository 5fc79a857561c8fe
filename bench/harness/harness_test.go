package harness

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/spoolhq/spool/bench/catalog"
	"github.com/spoolhq/spool/bench/store"
	"github.com/spoolhq/spool/bench/workload"
)

// TestMain lets the test binary serve as the driver's child: Run re-executes
// os.Executable(), which here is this test binary.
func TestMain(m *testing.M) {
	if IsChild() {
		os.Exit(ChildMain(catalog.Default()))
	}
	os.Exit(m.Run())
}

func TestRotate(t *testing.T) {
	specs := []store.Spec{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	var got []string
	for rep := range 4 {
		var names []string
		for _, s := range rotate(specs, rep) {
			names = append(names, s.Name)
		}
		got = append(got, strings.Join(names, ""))
	}
	if want := "abc bca cab abc"; strings.Join(got, " ") != want {
		t.Fatalf("rotations %v, want %s", got, want)
	}
}

func TestPlanBuildsBeforeUseAndReleasesAfter(t *testing.T) {
	reg := catalog.Default()
	sc := workload.Test
	sc.Reps = 2
	steps := plan(workload.List(sc), reg.Specs(), sc)
	built := map[string]bool{}
	released := map[string]bool{}
	for _, s := range steps {
		w, ok := workload.Find(sc, s.cell.Workload)
		if !ok {
			t.Fatalf("unknown workload %q in plan", s.cell.Workload)
		}
		switch {
		case w.Build:
			if built[s.fixture] {
				t.Errorf("fixture %q built twice", s.fixture)
			}
			built[s.fixture] = true
		case w.Fixture != "":
			if !built[s.fixture] || released[s.fixture] {
				t.Errorf("%s/%s reads fixture %q: built %v released %v", s.cell.Store, w.Name, s.fixture, built[s.fixture], released[s.fixture])
			}
		}
		for _, k := range s.release {
			released[k] = true
		}
	}
	for k := range built {
		if !released[k] {
			t.Errorf("fixture %q never released", k)
		}
	}
}

// TestQuickRun runs every workload on every store at the test scale, each
// cell in its own child process, and checks that every planned cell
// succeeded.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var progress strings.Builder
	res, err := Run(context.Background(), Config{
		Registry: catalog.Default(),
		Scale:    workload.Test,
		WorkDir:  t.TempDir(),
		Warm:     true,
		Exe:      exe,
		Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	if missing := res.Missing(); len(missing) > 0 {
		t.Fatalf("cells without a result:\n%s\nprogress:\n%s", strings.Join(missing, "\n"), progress.String())
	}
	for _, name := range catalog.Default().Names() {
		if !strings.Contains(progress.String(), name) {
			t.Errorf("store %s never ran", name)
		}
	}
	if len(res.Records) == 0 || res.Records[0].Store != workload.MachineColumn {
		t.Errorf("first record is not the machine limits: %+v", res.Records[:1])
	}
	t.Log("\n" + progress.String())
}
