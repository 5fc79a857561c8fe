//go:build linux

package journal

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// TestResidentSetFlatInLogSize writes a long log through default-size
// segments, compacting the front as a Raft server does after snapshots,
// and checks that the process's file-backed resident set ends at most 64
// MiB above where it started: written pages leave the page tables behind
// the writer (prefill.go, unmapWritten) and with their segment's seal
// (lru.go), so they stay in the page cache only. Before, every written
// page of every segment still in the log stayed resident in the process.
// SPOOL_RSS_WRITE_MB sets how much is written (default 1024, 256 with
// -short; the figure is 4096).
func TestResidentSetFlatInLogSize(t *testing.T) {
	total := int64(envIntShort("SPOOL_RSS_WRITE_MB", 1024, 256)) << 20
	for _, policy := range []SyncPolicy{GroupCommit, PageCache} {
		t.Run(fmt.Sprint(policy), func(t *testing.T) {
			j := mustOpen(t, t.TempDir(), &Options{Sync: policy})
			defer closeOK(t, j)
			before, ok := rssFileKB(t)
			if !ok {
				t.Skip("no RssFile in /proc/self/status")
			}
			buf := payload(5, 64<<10)
			var last uint64
			for written := int64(0); written < total; written += int64(len(buf)) {
				binary.LittleEndian.PutUint64(buf, last+1)
				idx, err := j.AppendBytes(buf)
				if err != nil {
					t.Fatal(err)
				}
				last = idx
				// Keep about two segments of log, as compaction does.
				if keep := uint64(2 * DefaultSegmentSize / len(buf)); last > 2*keep && last%keep == 0 {
					if err := j.TruncateFront(last - keep); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := j.Sync(); err != nil {
				t.Fatal(err)
			}
			// Background goroutines (the prefaulter, the bounder) drop
			// pages.
			const limit = 64 << 10 // KiB
			grew, ok := rssFileSettles(t, before, limit)
			if !ok {
				t.Fatalf("RssFile grew by %d KiB after writing %d MiB; want at most %d KiB", grew, total>>20, limit)
			}
			t.Logf("RssFile grew by %d KiB after writing %d MiB", grew, total>>20)
			got, err := j.ReadBytes(last, nil)
			if err != nil {
				t.Fatal(err)
			}
			if binary.LittleEndian.Uint64(got) != last {
				t.Fatalf("entry %d reads back as %d", last, binary.LittleEndian.Uint64(got))
			}
		})
	}
}
