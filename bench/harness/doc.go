// Package harness runs the benchmark: it plans the cells (one store and one
// workload each, machine limits included), runs every cell in its own
// process by re-executing the running binary, interleaves the stores across
// repetitions, builds the shared read-only logs once per store and removes
// them after their last use, and collects the children's results.
//
// A binary that uses the harness calls [IsChild] first thing in main and,
// when it returns true, exits with [ChildMain]: the cell to run arrives in
// the SPOOLBENCH_CELL environment variable and the result leaves as one JSON
// line on standard output.
package harness
