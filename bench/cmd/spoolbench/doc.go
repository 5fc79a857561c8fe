// Command spoolbench runs spool's benchmark suite: every registered store
// (spool's columns once registered, raft-wal, raft-boltdb, tidwall/wal,
// etcd's wal + MemoryStorage) through the same raft.LogStore workloads,
// beside the machine's own limits measured in the same run, each cell in its
// own process, and writes a markdown table, JSON and SVG charts.
//
// Usage, from the bench module (cd bench):
//
//	go run ./cmd/spoolbench            # default scale, into results/ (and README.md)
//	go run ./cmd/spoolbench -quick     # CI scale, into results/tmp/quick/
//
// Progress goes to standard error, one line per step; the markdown table
// goes to standard output at the end. The exit status is 1 when any planned
// cell has no successful result (for -quick, the CI check that every store
// ran). -from results/results.json re-renders the report of an earlier run
// without running anything; -h lists the other flags.
package main
