// Package report turns a run's records into what people read: medians with
// min–max per (column, workload, figure), every figure's ratio to the best
// peer and to the machine limit, the targets evaluated on spool's
// columns, and the output files — results.md (tables), results.json
// (everything) and SVG charts (throughput bars, latency distributions, open
// time and memory against log size).
package report
