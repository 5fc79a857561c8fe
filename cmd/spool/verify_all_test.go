package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spoolhq/spool/journal"
)

// TestVerifyLastChunkHeaderFlip is issue 12's report: three 100-byte
// entries, Close, one bit flipped in the third entry's chunk header. The
// clean-shutdown record vouches for the entry, so verify must say corrupt
// (exit 4) and name the file, the offset and index 3, for every bit of the
// header; it said torn-tail (exit 3) and recovery dropped the entry.
func TestVerifyLastChunkHeaderFlip(t *testing.T) {
	dir := t.TempDir()
	j, err := journal.Open(dir, &journal.Options{SegmentSize: segSize})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := j.AppendBytes(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := journal.Verify(dir, nil)
	if err != nil || rep.Verdict != journal.VerdictClean {
		t.Fatalf("before: %v %v", rep.Verdict, err)
	}
	path := filepath.Join(dir, rep.Segments[0].Name)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The slot of entry 3 (slots grow down from the trailer) gives its
	// chunk's offset.
	slot := len(orig) - 64 - 3*4
	hdr := int(binary.LittleEndian.Uint32(orig[slot:]))
	for off := hdr; off < hdr+32; off++ {
		for bit := range 8 {
			b := append([]byte(nil), orig...)
			b[off] ^= 1 << bit
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := spool(t, "verify", dir)
			if code != exitCorrupt {
				t.Fatalf("bit %d at %d: exit %d, want %d:\n%s%s", bit, off, code, exitCorrupt, out, errOut)
			}
			wantLines(t, out, ": corrupt\n", "file:   "+path+"\n", "offset: ", "index:  3\n", "exit status 4 (corrupt)\n")
		}
	}
}

// TestVerifyPrintsEveryProblem damages entries in two segments: verify
// prints the first as before and lists the other.
func TestVerifyPrintsEveryProblem(t *testing.T) {
	dir := closedJournal(t)
	rep, err := journal.Verify(dir, nil)
	if err != nil || len(rep.Segments) < 2 {
		t.Fatalf("%v, %d segments", err, len(rep.Segments))
	}
	var paths []string
	for _, s := range rep.Segments[:2] {
		path := filepath.Join(dir, s.Name)
		paths = append(paths, path)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[4096+32+7] ^= 0x10 // the payload of the segment's first entry
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := spool(t, "verify", dir)
	if code != exitCorrupt {
		t.Fatalf("exit %d:\n%s%s", code, out, errOut)
	}
	second := fmt.Sprintf("  corrupt: %s at offset 4096 (index %d): ", paths[1], rep.Segments[1].FirstIndex)
	wantLines(t, out, "file:   "+paths[0]+"\n", "index:  1\n", "2 problems in all", second, "2 unreadable", "exit status 4 (corrupt)\n")
	if strings.Contains(out, "  corrupt: "+paths[0]) {
		t.Fatalf("the first problem is listed twice:\n%s", out)
	}
	code, out, _ = spool(t, "stat", dir)
	if code != exitClean {
		t.Fatalf("stat exit %d", code)
	}
	wantLines(t, out, "problems    2 in all")
}
