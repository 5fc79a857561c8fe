package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spoolhq/spool/bench/catalog"
	"github.com/spoolhq/spool/bench/harness"
	"github.com/spoolhq/spool/bench/report"
	"github.com/spoolhq/spool/bench/workload"
)

func main() {
	if harness.IsChild() {
		os.Exit(harness.ChildMain(catalog.Default()))
	}
	os.Exit(run())
}

func run() int {
	var (
		quick     = flag.Bool("quick", false, "CI scale: small logs, one repetition; checks that every store runs")
		scaleName = flag.String("scale", "", "scale by name: quick, default or test (overrides -quick)")
		reps      = flag.Int("reps", 0, "repetitions (0: the scale's)")
		spread    = flag.Int("append-spread", -1, "MiB of log the append workloads spread their timed calls over (-1: the scale's; 0: one run of calls from the start of a fresh store)")
		openSizes = flag.String("open-sizes", "", "comma-separated log sizes in MiB for the open/memory series (default: the scale's)")
		reopen    = flag.Int("reopen", 0, "log size in MiB of the headline cold reopen; must be one of the open sizes (0: the scale's)")
		stores    = flag.String("stores", "", "comma-separated columns to run (default: all registered)")
		workloads = flag.String("workloads", "", "comma-separated workloads to run (default: all)")
		out       = flag.String("out", "", "results directory (default: results/, or results/tmp/quick/ for -quick)")
		work      = flag.String("work", "", "directory the stores write to, on the disk under test (default: results/tmp/work)")
		warm      = flag.Bool("warm", false, "do not evict the page cache before the cold opens")
		verbose   = flag.Bool("v", false, "copy the cells' standard error to the progress output")
		list      = flag.Bool("list", false, "list the columns and workloads and exit")
		from      = flag.String("from", "", "re-render the report from an earlier results.json instead of running")
		readme    = flag.String("readme", "auto", "README whose results section to refresh (auto: README.md for a default-scale run into results/; empty: none)")
	)
	flag.Parse()

	name := "default"
	if *quick {
		name = "quick"
	}
	if *scaleName != "" {
		name = *scaleName
	}
	sc, err := workload.ScaleByName(name)
	if err != nil {
		return fail(err)
	}
	if *reps > 0 {
		sc.Reps = *reps
	}
	if *spread >= 0 {
		sc.AppendSpreadMiB = *spread
	}
	if *openSizes != "" {
		if sc.OpenMiB, err = parseSizes(*openSizes); err != nil {
			return fail(err)
		}
		if *reopen == 0 && !contains(sc.OpenMiB, sc.ReopenMiB) {
			sc.ReopenMiB = sc.OpenMiB[len(sc.OpenMiB)/2]
		}
	}
	if *reopen > 0 {
		sc.ReopenMiB = *reopen
	}
	if err := sc.Validate(); err != nil {
		return fail(err)
	}
	reg := catalog.Default()
	if *list {
		fmt.Println("columns:", strings.Join(reg.Names(), ", "))
		for _, w := range workload.List(sc) {
			fmt.Printf("  %-16s %s\n", w.Name, w.Title)
		}
		return 0
	}

	if *readme == "auto" {
		*readme = ""
		if *out == "" && sc.Name == "default" {
			*readme = "README.md"
		}
	}
	if *out == "" {
		*out = "results"
		if sc.Name != "default" {
			*out = filepath.Join("results", "tmp", sc.Name)
		}
	}
	if *work == "" {
		*work = filepath.Join("results", "tmp", "work")
	}
	if *from != "" {
		res, err := load(*from)
		if err != nil {
			return fail(err)
		}
		if _, err := writeReport(res, *out, *readme); err != nil {
			return fail(err)
		}
		return 0
	}
	exe, err := os.Executable()
	if err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	fmt.Fprintf(os.Stderr, "spoolbench: scale %s, %d repetition(s), columns %s; results to %s\n",
		sc.Name, sc.Reps, strings.Join(reg.Names(), ", "), *out)
	res, err := harness.Run(ctx, harness.Config{
		Registry:  reg,
		Scale:     sc,
		Stores:    splitList(*stores),
		Workloads: splitList(*workloads),
		WorkDir:   *work,
		Warm:      *warm,
		Exe:       exe,
		Progress:  os.Stderr,
		Verbose:   *verbose,
		Command:   command(),
	})
	if err != nil && res == nil {
		return fail(err)
	}
	if _, werr := writeReport(res, *out, *readme); werr != nil {
		return fail(werr)
	}
	if err != nil {
		return fail(err)
	}
	if missing := res.Missing(); len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "spoolbench: %d cell(s) without a result:\n  %s\n", len(missing), strings.Join(missing, "\n  "))
		return 1
	}
	fmt.Fprintf(os.Stderr, "spoolbench: every planned cell ran (%d columns, %d cells)\n", len(res.Stores), len(res.Planned))
	return 0
}

// writeReport writes the report files into out, prints the markdown on
// standard output and, when readme is set, refreshes its results section.
func writeReport(res *harness.Results, out, readme string) ([]byte, error) {
	md, err := report.Write(out, res)
	if err != nil {
		return nil, err
	}
	os.Stdout.Write(md)
	fmt.Fprintf(os.Stderr, "spoolbench: wrote %s, %s and charts to %s\n", report.MarkdownFile, report.JSONFile, out)
	if readme == "" {
		return md, nil
	}
	rel, err := filepath.Rel(filepath.Dir(readme), out)
	if err != nil {
		return nil, err
	}
	if err := report.UpdateReadme(readme, report.ReadmeSection(md, filepath.ToSlash(rel))); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "spoolbench: refreshed the results section of %s\n", readme)
	return md, nil
}

// load reads the results of an earlier run from its results.json.
func load(path string) (*harness.Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc report.Document
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if doc.Results == nil {
		return nil, fmt.Errorf("%s: no results", path)
	}
	return doc.Results, nil
}

// command reconstructs the command line as a user would type it.
func command() string {
	args := append([]string{"cd bench && go run ./cmd/spoolbench"}, os.Args[1:]...)
	return strings.Join(args, " ")
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad size %q in -open-sizes", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, "spoolbench:", err)
	return 1
}
