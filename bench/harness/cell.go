package harness

import (
	"github.com/spoolhq/spool/bench/workload"
)

// EnvCell is the environment variable that carries a child's cell.
const EnvCell = "SPOOLBENCH_CELL"

// Cell is one run of one workload on one column, in its own process.
type Cell struct {
	// Rep is the repetition, from 0.
	Rep int `json:"rep"`
	// Store is the column name (workload.MachineColumn for the machine).
	Store string `json:"store"`
	// Workload is the workload name.
	Workload string `json:"workload"`
	// Scale sizes the run.
	Scale workload.Scale `json:"scale"`
	// Dir is the cell's empty directory (the fixture's own directory for
	// build workloads).
	Dir string `json:"dir"`
	// Fixture is the read-only log the workload reads, if any.
	Fixture string `json:"fixture,omitempty"`
	// Warm disables cache eviction.
	Warm bool `json:"warm,omitempty"`
}

// Record is the outcome of a cell.
type Record struct {
	Rep      int                `json:"rep"`
	Store    string             `json:"store"`
	Workload string             `json:"workload"`
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	Labels   map[string]string  `json:"labels,omitempty"`
	// Error is empty when the cell succeeded.
	Error string `json:"error,omitempty"`
	// Seconds is the wall time of the cell's process.
	Seconds float64 `json:"seconds"`
}

// OK reports whether the cell succeeded.
func (r Record) OK() bool { return r.Error == "" }
