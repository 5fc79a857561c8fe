package harness

import (
	"fmt"
	"time"

	"github.com/spoolhq/spool/bench/workload"
)

// Results is everything a run produced.
type Results struct {
	// Command is the command line that produced the results.
	Command string `json:"command"`
	// Started is when the run started; Seconds how long it took.
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	// Scale sized the run; Warm says cache eviction was disabled.
	Scale workload.Scale `json:"scale"`
	Warm  bool           `json:"warm,omitempty"`
	// Host describes the machine.
	Host Host `json:"host"`
	// Stores describes the columns that ran, in column order.
	Stores []StoreInfo `json:"stores"`
	// Registered names every column of the registry, run or not.
	Registered []string `json:"registered"`
	// Workloads describes the workloads that ran, in run order.
	Workloads []workload.Workload `json:"workloads"`
	// Planned lists every (column, workload) pair the run planned.
	Planned []Pair `json:"planned"`
	// Records holds every cell's outcome, in run order.
	Records []Record `json:"records"`
}

// Pair names a column and a workload.
type Pair struct {
	Store    string `json:"store"`
	Workload string `json:"workload"`
}

// Host describes the machine a run executed on.
type Host struct {
	OS     string `json:"os"`
	Arch   string `json:"arch"`
	CPU    string `json:"cpu"`
	CPUs   int    `json:"cpus"`
	MemMiB int64  `json:"mem_mib"`
	// L3KiB is the size of the CPU's last-level (L3) cache, 0 when
	// unknown: the random-read log must be several times larger.
	L3KiB     int64  `json:"l3_kib,omitempty"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	// WorkDir is where the stores wrote, on filesystem FS.
	WorkDir string `json:"work_dir"`
	FS      string `json:"fs"`
}

// StoreInfo describes a column.
type StoreInfo struct {
	Name    string   `json:"name"`
	Kind    string   `json:"kind"`
	Module  string   `json:"module"`
	Version string   `json:"version"`
	Caps    []string `json:"caps"`
	Notes   []string `json:"notes,omitempty"`
}

// Missing lists the (column, workload) pairs the run planned but that have
// no successful record, with the last error seen for each: the check of a
// -quick run that every store ran.
func (r *Results) Missing() []string {
	ok := map[Pair]bool{}
	lastErr := map[Pair]string{}
	for _, rec := range r.Records {
		k := Pair{rec.Store, rec.Workload}
		if rec.OK() {
			ok[k] = true
		} else {
			lastErr[k] = rec.Error
		}
	}
	var missing []string
	for _, k := range r.Planned {
		if !ok[k] {
			why := lastErr[k]
			if why == "" {
				why = "did not run"
			}
			missing = append(missing, fmt.Sprintf("%s / %s: %s", k.Store, k.Workload, why))
		}
	}
	return missing
}
