// Command spool inspects spool journal directories without changing them.
//
// Usage:
//
//	spool verify [-max-entry-size BYTES] DIR
//	spool stat   [-max-entry-size BYTES] DIR
//
// Install it with
//
//	go install github.com/spoolhq/spool/cmd/spool@latest
//
// or, in a checkout, build it with
//
//	go build -o spool ./cmd/spool
//
// Scripts that act on the verdict must run the binary: `go run
// ./cmd/spool verify DIR` reports any non-zero exit status of the program
// as its own status 1 (it prints "exit status 4" on stderr), so 3, 4 and 5
// cannot be told apart from a failure to verify. verify also prints its
// exit status as its last line.
//
// verify checks both meta slots, every segment header and trailer, and
// every chunk of every entry the journal holds (journal.Verify), and prints
// the verdict and, unless the journal is clean, the problem that decides
// it with its file, byte offset and entry index, then every other problem
// found (up to journal.MaxProblems, with a count of the rest). When Open
// would fail, verification stops at that damage but still reads the
// sealed segments before it. Its exit status tells the verdict:
//
//	0  clean: Open would recover nothing and every entry reads back
//	1  verification could not run: bad usage, no journal in DIR, an I/O error
//	3  torn tail: an unacknowledged tail that Open would trim; nothing
//	   acknowledged is lost
//	4  corrupt: Open, or a read of some entry, would fail with
//	   journal.ErrCorrupt (or ErrForeign)
//	5  unsupported: a file has a format newer than this build reads
//
// Status 2 is left unused: it is what a Go program exits with when it
// panics or hits a fatal runtime error, which must not read as a verdict.
//
// stat runs the same check and prints the layout: journal ID, index range,
// entry and byte counts, the durability watermark and the tail's durable
// checkpoint, every segment with its state, and both meta slots. It exits 0
// whenever it could report, whatever the verdict, and 1 otherwise.
//
// Both open every file read-only and take no lock, so they can run beside a
// process that has the journal open; the result is then a snapshot of a
// moving target (appends in flight look like a torn tail). For a definitive
// verdict run them on a journal no process has open. Both read the whole
// journal once.
//
// -max-entry-size is the journal.Options.MaxEntrySize the journal's owner
// uses (default journal.DefaultMaxEntrySize): a spanning entry larger than
// it is reported as a read would report it.
package main
