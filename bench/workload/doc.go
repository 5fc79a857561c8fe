// Package workload defines what the benchmark measures: each [Workload]
// runs on one store in one process and returns named figures (a [Result]).
//
// The workloads follow the benchmark issue: durable appends (128 B × 64 per
// StoreLogs, one 1 KiB entry per call, 256 KiB × 4), concurrent producers
// (group commit), sequential and random GetLog, open time and memory against
// log size (cold cache where the machine allows), DeleteRange of the oldest
// half, and the native zero-copy read. The machine's limits are a workload
// too, run on the "machine" pseudo-column. Read-only logs that several
// workloads share are built once per store by "write-N MiB" workloads, which
// report the write bandwidth and the memory used while writing.
//
// Every figure is described by a [Metric]: unit, which direction is better,
// and the machine limit it is compared with.
package workload
