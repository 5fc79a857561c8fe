// Package mmapio is spool's operating-system layer: files, shared memory
// mappings, durability and space reservation, behind a small interface (FS,
// File, Mapping) that the journal uses for every disk and mapping operation.
//
// The production implementation, OS, maps files with mmap, syncs page-aligned
// ranges with msync(MS_SYNC), syncs whole files with fdatasync, reserves space
// with fallocate (never a sparse ftruncate, so that a full disk is an error at
// reservation time rather than a SIGBUS at write time), passes madvise hints,
// and fsyncs directories after create, rename and unlink when asked.
//
// Tests replace OS with a crashable in-memory FS that keeps a durable and a
// working image of each file; nothing in the journal talks to the operating
// system except through this package. Publish replaces a file atomically
// across a crash (write to a temporary name, sync, rename, sync the
// directory), for the files kept beside a journal (snapshots, say).
//
// Mapped memory can fault: a page whose file was truncated under the mapping
// raises SIGBUS. Copy and Guard run a copy or a callback with
// runtime/debug.SetPanicOnFault enabled and turn such a fault into an error
// wrapping ErrFault instead of crashing the process.
package mmapio
