// Package machine measures the limits of the machine a run executes on, in
// the same run as the stores, so that every store's figure can be read as a
// ratio to what the disk and memory can do at all:
//
//   - sequential write bandwidth: large writes followed by one fdatasync,
//     and 1 MiB writes each followed by fdatasync (bandwidth and latency of
//     a 1 MiB durable call);
//   - 4 KiB write + fdatasync latency, appending to a growing file, in
//     place over written blocks of a preallocated file, and into fallocated
//     (unwritten) blocks;
//   - memory copy bandwidth, for large buffers and in 4 KiB pieces;
//   - the time of a 1 KiB copy from a random offset of a mapped file as
//     large as the random-read workload's log (larger than the CPU caches).
package machine
