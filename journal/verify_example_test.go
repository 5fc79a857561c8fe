package journal_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/spoolhq/spool/journal"
)

// ExampleVerify checks a journal directory without changing it, then
// damages an entry's payload and checks again: the problem names the file
// offset and the index of the entry a read would fail on.
func ExampleVerify() {
	dir, err := os.MkdirTemp("", "journal-verify-")
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			log.Fatal(err)
		}
	}()
	j, err := journal.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range []string{"a", "bb", "ccc"} {
		if _, err := j.AppendBytes([]byte(s)); err != nil {
			log.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		log.Fatal(err)
	}

	rep, err := journal.Verify(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.Verdict, rep.FirstIndex, rep.LastIndex, rep.Durable, len(rep.Segments))

	// Corrupt the payload of entry 2: reads of it would fail.
	seg := filepath.Join(dir, rep.Segments[0].Name)
	b, err := os.ReadFile(seg)
	if err != nil {
		log.Fatal(err)
	}
	b[4096+40+32] ^= 1 // entry 1 is 32+1 bytes padded to 40; entry 2's payload follows its header
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		log.Fatal(err)
	}
	// Damage is a verdict in the report, not an error.
	if rep, err = journal.Verify(dir, nil); err != nil {
		log.Fatal(err)
	}
	fmt.Println(rep.Verdict, rep.Problem.Offset, rep.Problem.Index, rep.Problem.Reason)
	// Output:
	// clean 1 3 3 1
	// corrupt 4136 2 payload checksum mismatch
}
