package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/spoolhq/spool/journal"
)

// printVerify writes verify's report: the verdict, the problem that
// decides it located by file, offset and index, every other problem found
// (up to journal.MaxProblems), what recovery would tidy, and the exit
// status, which `go run` would not pass on.
func printVerify(w io.Writer, r *journal.Report) {
	fmt.Fprintf(w, "%s: %s\n", r.Dir, r.Verdict)
	if p := r.Problem; p != nil {
		fmt.Fprintf(w, "  file:   %s\n", p.Path)
		if p.Offset >= 0 {
			fmt.Fprintf(w, "  offset: %d\n", p.Offset)
		}
		if p.Index != 0 {
			fmt.Fprintf(w, "  index:  %d\n", p.Index)
		}
		fmt.Fprintf(w, "  reason: %s\n", p.Reason)
		if p.Err != nil {
			fmt.Fprintf(w, "  error:  %v\n", p.Err)
		}
	}
	if r.Opens {
		fmt.Fprintf(w, "entries %s, durable through %d", indexRange(r), r.Durable)
		if r.BadEntries > 0 {
			fmt.Fprintf(w, ", %d unreadable", r.BadEntries)
		}
		fmt.Fprintln(w)
	}
	printOthers(w, r)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "exit status %d (%s)\n", verdictStatus(r.Verdict), r.Verdict)
}

// printOthers lists the problems besides r.Problem, each as "kind: file at
// offset N (index I): reason".
func printOthers(w io.Writer, r *journal.Report) {
	total := len(r.Problems) + r.MoreProblems
	if total <= 1 {
		return
	}
	fmt.Fprintf(w, "%d problems in all; besides the one above:\n", total)
	for _, p := range r.Problems {
		if p == r.Problem {
			continue
		}
		kind := journal.VerdictTornTail
		if p.Err != nil {
			kind = journal.VerdictCorrupt
			if errors.Is(p.Err, journal.ErrVersion) && !errors.Is(p.Err, journal.ErrCorrupt) {
				kind = journal.VerdictUnsupported
			}
		}
		fmt.Fprintf(w, "  %s: %s\n", kind, p)
	}
	if r.MoreProblems > 0 {
		fmt.Fprintf(w, "  and %d more (the first %d are listed)\n", r.MoreProblems, journal.MaxProblems)
	}
}

// printStat writes stat's report: the journal's layout and watermarks.
func printStat(w io.Writer, r *journal.Report) {
	fmt.Fprintf(w, "dir         %s\n", r.Dir)
	fmt.Fprintf(w, "journal     %016x\n", r.JournalID)
	fmt.Fprintf(w, "verdict     %s\n", r.Verdict)
	if r.Problem != nil {
		fmt.Fprintf(w, "problem     %s\n", r.Problem)
	}
	if n := len(r.Problems) + r.MoreProblems; n > 1 {
		fmt.Fprintf(w, "problems    %d in all (spool verify lists them)\n", n)
	}
	if r.Opens {
		fmt.Fprintf(w, "entries     %s, %d payload bytes\n", indexRange(r), r.PayloadBytes)
		fmt.Fprintf(w, "durable     %d\n", r.Durable)
		if c := r.Checkpoint; c != nil {
			fmt.Fprintf(w, "checkpoint  entry %d (%d entries of the last segment, data end %d)\n", c.LastIndex, c.Entries, c.DataEnd)
		} else {
			fmt.Fprintf(w, "checkpoint  none in the last segment\n")
		}
	}
	fmt.Fprintf(w, "segments    %d files, %d bytes kept\n", len(r.Segments), r.SegmentBytes)
	for _, s := range r.Segments {
		fmt.Fprintf(w, "  %s  %-9s first %-8d entries %-7d data end %-9d size %d\n",
			filepath.Base(s.Name), s.State, s.FirstIndex, s.Entries, s.DataEnd, s.FileSize)
	}
	for i, m := range r.Meta {
		switch {
		case m.Err != nil:
			fmt.Fprintf(w, "meta slot %d invalid: %v\n", i, m.Err)
		case m.Current:
			fmt.Fprintf(w, "meta slot %d generation %d (current)\n", i, m.Generation)
		default:
			fmt.Fprintf(w, "meta slot %d generation %d\n", i, m.Generation)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note        %s\n", n)
	}
}

func indexRange(r *journal.Report) string {
	if r.Entries() == 0 {
		return fmt.Sprintf("none (next index %d)", r.FirstIndex)
	}
	return fmt.Sprintf("%d..%d (%d)", r.FirstIndex, r.LastIndex, r.Entries())
}
