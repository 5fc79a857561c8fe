package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/spoolhq/spool/journal"
)

// Exit statuses; see the package doc.
const (
	exitClean       = 0
	exitError       = 1
	exitTornTail    = 3
	exitCorrupt     = 4
	exitUnsupported = 5
)

const usage = `usage:
  spool verify [-max-entry-size BYTES] DIR   check every record; exit status tells the verdict
  spool stat   [-max-entry-size BYTES] DIR   print segments, index range, sizes, durability

verify exit status: 0 clean, 1 could not verify, 3 torn tail (Open would trim
an unacknowledged tail), 4 corrupt (Open or a read would fail), 5 newer format.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command: it parses args, writes its report to stdout and
// errors to stderr, and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	cmd, args := args[0], args[1:]
	var report func(io.Writer, *journal.Report)
	switch cmd {
	case "verify":
		report = printVerify
	case "stat":
		report = printStat
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitClean
	default:
		fmt.Fprintf(stderr, "spool: unknown command %q\n%s", cmd, usage)
		return exitError
	}
	fs := flag.NewFlagSet("spool "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	maxEntry := fs.Int64("max-entry-size", journal.DefaultMaxEntrySize, "the `BYTES` of the largest entry the journal's owner accepts")
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "spool %s: want one directory, got %d arguments\n%s", cmd, fs.NArg(), usage)
		return exitError
	}
	if *maxEntry <= 0 {
		fmt.Fprintf(stderr, "spool %s: -max-entry-size must be positive\n", cmd)
		return exitError
	}
	rep, err := journal.Verify(fs.Arg(0), &journal.Options{MaxEntrySize: *maxEntry})
	if err != nil {
		if errors.Is(err, journal.ErrNotFound) {
			fmt.Fprintf(stderr, "spool %s: %v\n", cmd, err)
		} else {
			fmt.Fprintf(stderr, "spool %s: could not verify: %v\n", cmd, err)
		}
		return exitError
	}
	report(stdout, rep)
	if cmd == "stat" {
		return exitClean
	}
	return verdictStatus(rep.Verdict)
}

// verdictStatus maps a verdict to verify's exit status.
func verdictStatus(v journal.Verdict) int {
	switch v {
	case journal.VerdictClean:
		return exitClean
	case journal.VerdictTornTail:
		return exitTornTail
	case journal.VerdictUnsupported:
		return exitUnsupported
	}
	return exitCorrupt
}
