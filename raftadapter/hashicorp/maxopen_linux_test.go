//go:build linux

package hashicorp

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

// openSegmentFDs counts the process's open descriptors of segment files
// under dir.
func openSegmentFDs(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range ents {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err == nil && strings.HasPrefix(target, dir) && strings.HasSuffix(target, ".seg") {
			n++
		}
	}
	return n
}

// TestMaxOpenSegmentsReachesJournal reads back a log of many small
// segments through GetLog and checks that the store keeps the journal's
// open segment files within Options.MaxOpenSegments (plus the active
// segment and a spare), and that without a cap every segment read stays
// open.
func TestMaxOpenSegmentsReachesJournal(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cap     int
		atMost  int
		atLeast int
	}{
		{"cap-2", 2, 2 + 2, 0},
		{"no-cap", -1, 1 << 30, 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, &Options{JournalOptions: JournalOptions{SegmentSize: smallSegments, MaxOpenSegments: tc.cap}})
			data := bytes.Repeat([]byte{7}, 4<<10)
			logs := make([]*raft.Log, 0, 640)
			for i := uint64(1); i <= 640; i++ {
				logs = append(logs, &raft.Log{Index: i, Term: 1, Type: raft.LogCommand, Data: data})
			}
			if err := s.StoreLogs(logs); err != nil {
				t.Fatal(err)
			}
			var l raft.Log
			for i := uint64(1); i <= 640; i++ {
				if err := s.GetLog(i, &l); err != nil {
					t.Fatal(err)
				}
			}
			fds := openSegmentFDs(t, dir)
			t.Logf("%d segment files open after reading 640 entries of 4 KiB in %d KiB segments", fds, smallSegments>>10)
			if fds > tc.atMost || fds < tc.atLeast {
				t.Fatalf("%d segment files open, want between %d and %d", fds, tc.atLeast, tc.atMost)
			}
		})
	}
}
