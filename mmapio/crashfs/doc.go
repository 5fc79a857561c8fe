// Package crashfs is a crashable, fault-injecting implementation of the
// mmapio.FS seam, for tests. It models what a power cut does to files that
// are written both with write calls and through shared memory mappings, in
// the spirit of pebble's vfs.CrashableMem, SQLite's test6.c crash VFS and
// FoundationDB's AsyncFileNonDurable, extended to mmap.
//
// It is exported so that applications can crash-test their own
// integration, as pebble exports vfs.NewCrashableMem and errorfs: pass an
// FS from New as journal.Options.FS (or the adapters' JournalOptions.FS,
// which also carries their snapshot and stable files), run the workload,
// call Crash, build the disk a reboot would find with Snapshot.Image, and
// reopen on that image to check what the application acknowledged.
//
// # Model
//
// Every file has two images:
//
//	working  what reads, writes and mappings see (the page cache)
//	durable  what the disk holds
//
// WriteAt, Allocate, Truncate, PunchHole (the range reads as zeros, size
// kept) and stores into a Mapping's bytes change the working image only. Mapping.Sync(off, n) copies the pages enclosing
// [off, off+n) (widened to mmapio.PageSize, as msync does) into the durable
// image; File.Sync (fdatasync) copies the whole file and its size. The
// namespace has a working and a durable view too: Create, Remove and Rename
// change the working view and queue a directory operation that SyncDir
// makes durable. Directories themselves (MkdirAll) are durable at once.
//
// The working image lives in kernel memory (a memfd on Linux, an unlinked
// temporary file elsewhere) and Sync copies it with pread. The journal
// stores into mapped pages from several goroutines while a sync of the same
// pages runs, as it may against a real kernel; copying with the kernel keeps
// that legitimate overlap invisible to the race detector, while every byte
// the package itself touches is guarded by one mutex.
//
// # Crashes
//
// Crash, or an armed CrashAfter, freezes the FS at an operation boundary:
// the working and durable images are captured in a Snapshot, and every later
// mutating operation (write, allocate, truncate, sync, create, remove,
// rename) fails with an error wrapping ErrCrashed, so nothing a still-running
// journal does afterwards can land. Reads, Map, Unmap and Close keep working
// so the abandoned instance can be torn down.
//
// A Snapshot lists its Units: every 4 KiB page whose working content differs
// from its durable content, and every directory operation not yet synced.
// Snapshot.Image builds the disk a reboot finds, asking a Decider what
// became of each unit: each 512-byte sector of an unsynced page persists
// old, new or garbage (only a sector whose bytes change can tear into
// garbage: one rewritten with its own bytes stays intact); an unsynced
// directory operation lands or vanishes (a rename lands whole or not at
// all). Random draws every choice from a seeded generator with atomic
// sectors, RandomTorn with tearing sectors, so a crash image is a pure function of the snapshot and
// the seed; AllNew, AllOld and Omit give the deterministic images that
// exhaustive tests enumerate. An unsynced size change persists when the
// page units beyond the durable size do.
//
// # Faults
//
// Inject arms a one-shot Fault: EIO from a sync that also marks the pages it
// covered clean without persisting them (the Linux "fsyncgate" behaviour:
// a later sync does not retry them), ENOSPC at byte k of a write or at
// Allocate, a short write, EIO on read, EIO from a directory sync, and a
// misdirected write (one sector a sync persists lands at another offset,
// and its own place keeps the old bytes), and a failed hole punch (EIO,
// or EOPNOTSUPP as a file system without it returns; SetPunch(false) makes
// every punch fail so). SetCapacity bounds the bytes all
// files may hold; Allocate or a write past it fails with ENOSPC. Faults are
// matched against operations in order, so a run with the same operations
// is the same run.
//
// # Limits
//
// Stores into a mapping are invisible to the FS: they are not operations,
// cannot be faulted, and are judged at crash time by comparing the page
// with its durable image (a page rewritten with its old bytes counts as
// clean). Reads through a mapping cannot fail. Locks are per FS, not per
// process.
package crashfs
