// Package sysstat reads what the benchmark measures about the process and
// the machine from the operating system: resident memory from
// /proc/self/status, disk space in allocated blocks (as du counts it),
// page-cache eviction for cold-cache measurements, and the filesystem the
// run writes to.
package sysstat
