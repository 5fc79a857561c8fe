package etcdwal

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"go.etcd.io/etcd/server/v3/storage/wal"

	"github.com/spoolhq/spool/bench/store/storetest"
)

// data is a 1 KiB payload that names its entry.
func data(i uint64) []byte {
	return append(storetest.Payload(i), make([]byte, 1024)...)[:1024]
}

func walFiles(t *testing.T, dir string) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "wal"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".wal") {
			n++
		}
	}
	return n
}

// TestDeletePrefixPurgesReleasedFiles checks that a prefix DeleteRange
// removes the wal files wholly before the new first index, and that the log
// reopens from the compaction point.
func TestDeletePrefixPurgesReleasedFiles(t *testing.T) {
	old := wal.SegmentSizeBytes
	wal.SegmentSizeBytes = 64 << 10
	defer func() { wal.SegmentSizeBytes = old }()

	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 1000; i += 10 {
		var logs []*raft.Log
		for j := i; j < i+10; j++ {
			logs = append(logs, &raft.Log{Index: j, Term: 1, Type: raft.LogCommand, Data: data(j)})
		}
		if err := s.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
	}
	before := walFiles(t, dir)
	if before < 4 {
		t.Fatalf("only %d wal files; the test needs several", before)
	}
	if err := s.DeleteRange(1, 600); err != nil {
		t.Fatal(err)
	}
	after := walFiles(t, dir)
	if after >= before {
		t.Fatalf("wal files: %d before DeleteRange, %d after", before, after)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatalf("reopen after purge: %v", err)
	}
	defer s.Close()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	if first != 601 || last != 1000 {
		t.Fatalf("after reopen: [%d, %d], want [601, 1000]", first, last)
	}
	var l raft.Log
	if err := s.GetLog(601, &l); err != nil || !bytes.Equal(l.Data, data(601)) {
		t.Fatalf("GetLog(601) = %v, %q", err, l.Data)
	}
}
