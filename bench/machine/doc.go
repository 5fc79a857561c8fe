// Package machine measures the limits of the machine a run executes on, in
// the same run as the stores, so that every store's figure can be read as a
// ratio to what the disk and memory can do at all:
//
//   - sequential write bandwidth: large writes followed by one fdatasync;
//   - 4 KiB write + fdatasync latency, appending to a growing file, in
//     place over written blocks of a preallocated file, and into fallocated
//     (unwritten) blocks;
//   - memory copy bandwidth, for large buffers and in 4 KiB pieces.
package machine
