package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/spoolhq/spool/bench/store"
	"github.com/spoolhq/spool/bench/sysstat"
	"github.com/spoolhq/spool/bench/workload"
)

// Config configures a run.
type Config struct {
	// Registry holds the columns; the child processes must see the same
	// registry (they call ChildMain with it).
	Registry *store.Registry
	// Scale sizes the run.
	Scale workload.Scale
	// Stores and Workloads restrict the run to the named columns and
	// workloads (with the builds they need); empty means all.
	Stores    []string
	Workloads []string
	// WorkDir is where the stores write; it is created, and everything
	// the run puts there is removed at the end.
	WorkDir string
	// Warm disables cache eviction before the cold measurements.
	Warm bool
	// Exe is the binary to re-execute for each cell (os.Executable()).
	Exe string
	// Progress receives one line per step; nil discards them.
	Progress io.Writer
	// Verbose copies the children's standard error to Progress.
	Verbose bool
	// Command is recorded in the results.
	Command string
}

// Run runs the benchmark and returns every cell's record. A failed cell is
// recorded and the run goes on; the error is for a run that could not
// start or was cancelled.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	if err := cfg.Scale.Validate(); err != nil {
		return nil, err
	}
	specs, err := selectSpecs(cfg.Registry, cfg.Stores)
	if err != nil {
		return nil, err
	}
	ws, err := selectWorkloads(workload.List(cfg.Scale), cfg.Workloads)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.WorkDir, 0o755); err != nil {
		return nil, err
	}
	workDir, err := filepath.Abs(cfg.WorkDir)
	if err != nil {
		return nil, err
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}

	res := &Results{
		Command: cfg.Command,
		Started: time.Now().UTC().Truncate(time.Second),
		Scale:   cfg.Scale,
		Warm:    cfg.Warm,
		Host:    describeHost(workDir),
		Stores:  describeStores(specs),

		Registered: cfg.Registry.Names(),
	}
	steps := plan(ws, specs, cfg.Scale)
	planned := map[Pair]bool{}
	for _, s := range steps {
		p := Pair{s.cell.Store, s.cell.Workload}
		if !planned[p] {
			planned[p] = true
			res.Planned = append(res.Planned, p)
		}
	}
	for _, w := range ws {
		if slices.ContainsFunc(res.Planned, func(p Pair) bool { return p.Workload == w.Name }) {
			res.Workloads = append(res.Workloads, w)
		}
	}

	fixtures := map[string]string{} // key -> directory
	defer func() {
		for _, dir := range fixtures {
			os.RemoveAll(dir)
		}
	}()
	t0 := time.Now()
	for i, s := range steps {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		c := s.cell
		c.Scale, c.Warm = cfg.Scale, cfg.Warm
		w, _ := workload.Find(cfg.Scale, c.Workload)
		switch {
		case w.Build:
			c.Dir = filepath.Join(workDir, "fixtures", safeName(c.Store), c.Workload)
			os.RemoveAll(c.Dir)
			fixtures[s.fixture] = c.Dir
		default:
			c.Dir = filepath.Join(workDir, "cells", fmt.Sprintf("%03d-%s-%s", i, safeName(c.Store), c.Workload))
			c.Fixture = fixtures[s.fixture]
		}
		if err := os.MkdirAll(c.Dir, 0o755); err != nil {
			return res, err
		}
		rec := runChild(ctx, cfg, c, progress)
		if !w.Build {
			os.RemoveAll(c.Dir)
		}
		if w.Build && !rec.OK() {
			delete(fixtures, s.fixture) // readers then fail with "no fixture"
			os.RemoveAll(c.Dir)
		}
		for _, key := range s.release {
			os.RemoveAll(fixtures[key])
			delete(fixtures, key)
		}
		res.Records = append(res.Records, rec)
		fmt.Fprintln(progress, progressLine(i, len(steps), cfg.Scale.Reps, rec, time.Since(t0)))
	}
	os.RemoveAll(filepath.Join(workDir, "cells"))
	os.RemoveAll(filepath.Join(workDir, "fixtures"))
	res.Seconds = time.Since(t0).Seconds()
	return res, nil
}

// runChild runs one cell in a child process and returns its record.
func runChild(ctx context.Context, cfg Config, c Cell, progress io.Writer) Record {
	rec := Record{Rep: c.Rep, Store: c.Store, Workload: c.Workload}
	if w, _ := workload.Find(c.Scale, c.Workload); w.Fixture != "" && c.Fixture == "" {
		rec.Error = "no fixture: its build failed"
		return rec
	}
	js, err := json.Marshal(c)
	if err != nil {
		rec.Error = err.Error()
		return rec
	}
	ctx, cancel := context.WithTimeout(ctx, c.Scale.CellTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, cfg.Exe)
	cmd.Env = append(os.Environ(), EnvCell+"="+string(js))
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if cfg.Verbose {
		cmd.Stderr = io.MultiWriter(&stderr, progress)
	}
	t0 := time.Now()
	runErr := cmd.Run()
	rec.Seconds = time.Since(t0).Seconds()
	lines := bytes.Split(bytes.TrimSpace(stdout.Bytes()), []byte("\n"))
	var got Record
	if err := json.Unmarshal(lines[len(lines)-1], &got); err == nil && got.Workload == c.Workload {
		got.Seconds = rec.Seconds
		return got
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		rec.Error = fmt.Sprintf("timed out after %v", c.Scale.CellTimeout)
	case runErr != nil:
		rec.Error = fmt.Sprintf("child: %v", runErr)
	default:
		rec.Error = "child wrote no record"
	}
	if tail := lastLines(stderr.String(), 5); tail != "" {
		rec.Error += ": " + tail
	}
	return rec
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], " | ")
}

func progressLine(i, n, reps int, rec Record, elapsed time.Duration) string {
	status := "ok"
	if !rec.OK() {
		status = "FAILED: " + rec.Error
	}
	eta := ""
	if i+1 < n {
		left := time.Duration(float64(elapsed) / float64(i+1) * float64(n-i-1))
		eta = fmt.Sprintf(", ~%s left", left.Round(time.Second))
	}
	return fmt.Sprintf("[%*d/%d] rep %d/%d  %-16s %-12s %6.2fs  %s  (elapsed %s%s)",
		len(fmt.Sprint(n)), i+1, n, rec.Rep+1, reps, rec.Workload, rec.Store, rec.Seconds, status,
		elapsed.Round(time.Second), eta)
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}

func selectSpecs(reg *store.Registry, names []string) ([]store.Spec, error) {
	if len(names) == 0 {
		return reg.Specs(), nil
	}
	var specs []store.Spec
	for _, s := range reg.Specs() { // keep column order
		if slices.Contains(names, s.Name) {
			specs = append(specs, s)
		}
	}
	for _, n := range names {
		if _, ok := reg.Lookup(n); !ok {
			return nil, fmt.Errorf("unknown store %q (have %s)", n, strings.Join(reg.Names(), ", "))
		}
	}
	return specs, nil
}

func selectWorkloads(all []workload.Workload, names []string) ([]workload.Workload, error) {
	if len(names) == 0 {
		return all, nil
	}
	want := map[string]bool{}
	for _, n := range names {
		if !slices.ContainsFunc(all, func(w workload.Workload) bool { return w.Name == n }) {
			var have []string
			for _, w := range all {
				have = append(have, w.Name)
			}
			return nil, fmt.Errorf("unknown workload %q (have %s)", n, strings.Join(have, ", "))
		}
		want[n] = true
	}
	for _, w := range all { // the builds the selected workloads read
		if want[w.Name] && w.Fixture != "" {
			want[w.Fixture] = true
		}
	}
	var ws []workload.Workload
	for _, w := range all {
		if want[w.Name] {
			ws = append(ws, w)
		}
	}
	return ws, nil
}

func describeHost(workDir string) Host {
	h := Host{
		OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(),
		GoVersion: runtime.Version(), WorkDir: workDir, FS: sysstat.FSType(workDir),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			h.MemMiB = kb >> 10
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	h.L3KiB = l3KiB()
	return h
}

// l3KiB reads the size of CPU 0's level-3 cache from sysfs ("32768K"), 0
// when there is none or it cannot be read.
func l3KiB() int64 {
	dirs, _ := filepath.Glob("/sys/devices/system/cpu/cpu0/cache/index*")
	for _, d := range dirs {
		level, err := os.ReadFile(filepath.Join(d, "level"))
		if err != nil || strings.TrimSpace(string(level)) != "3" {
			continue
		}
		size, err := os.ReadFile(filepath.Join(d, "size"))
		if err != nil {
			return 0
		}
		var kib int64
		var unit string
		if n, _ := fmt.Sscanf(strings.TrimSpace(string(size)), "%d%s", &kib, &unit); n < 1 {
			return 0
		}
		switch unit {
		case "M":
			kib <<= 10
		case "G":
			kib <<= 20
		}
		return kib
	}
	return 0
}

func describeStores(specs []store.Spec) []StoreInfo {
	versions := map[string]string{}
	if bi, ok := debug.ReadBuildInfo(); ok {
		versions[bi.Main.Path] = bi.Main.Version
		for _, d := range bi.Deps {
			v := d.Version
			if d.Replace != nil {
				v = "=> " + d.Replace.Path
				if d.Replace.Version != "" {
					v += " " + d.Replace.Version
				}
			}
			versions[d.Path] = v
		}
	}
	var out []StoreInfo
	for _, s := range specs {
		info := StoreInfo{Name: s.Name, Kind: string(s.Kind), Module: s.Module, Version: versions[s.Module], Notes: s.Notes}
		for _, c := range []struct {
			c    store.Caps
			name string
		}{{store.CapLogStore, "logstore"}, {store.CapConcurrentAppend, "concurrent-append"}, {store.CapViewRead, "view-read"}, {store.CapReady, "ready"}} {
			if s.Caps.Has(c.c) {
				info.Caps = append(info.Caps, c.name)
			}
		}
		out = append(out, info)
	}
	return out
}
