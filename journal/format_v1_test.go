package journal

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// downgradeToV1 rewrites a version 2 segment file as version 1 wrote it:
// the header says version 1 and the checkpoint lies at offset 64.
func downgradeToV1(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h, err := decodeSegHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	h.version = 1
	h.encode(b)
	copy(b[ckptOffV1:ckptOffV1+ckptSize], b[ckptOff:ckptOff+ckptSize])
	clear(b[ckptOff : ckptOff+ckptSize])
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Version 1 segments (checkpoint beside the header) are still read, and
// their checkpoint still tells damage to acknowledged entries from a torn
// tail.
func TestFormatV1Segments(t *testing.T) {
	size := func(uint64) int { return 300 }
	for _, damage := range []bool{false, true} {
		dir := t.TempDir()
		j := mustOpen(t, dir, &Options{SegmentSize: testSegSize, Sync: SyncEach})
		for i := uint64(1); i <= 20; i++ {
			if _, err := j.AppendBytes(payload(i, size(i))); err != nil {
				t.Fatal(err)
			}
		}
		s := j.active
		path, firstOff := s.path, s.slot(0)
		if c, ok := decodeCheckpoint(s.data[ckptOff:], s.salt); !ok || c.count < 2 {
			t.Fatalf("no version 2 checkpoint at %d: %+v %v", ckptOff, c, ok)
		}
		j.crashClose() // no clean record: recovery scans and reads the checkpoint
		downgradeToV1(t, path)
		if damage {
			patchFile(t, path, func(b []byte) { b[firstOff+chunkHeaderSize] ^= 1 }) // the first entry's payload
		}
		j2, err := Open(dir, &Options{SegmentSize: testSegSize, Sync: SyncEach})
		if damage {
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "below the durable checkpoint") {
				t.Fatalf("damaged version 1 segment: Open = %v, want ErrCorrupt below the checkpoint", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("version 1 segment: %v", err)
		}
		checkEntries(t, j2, 1, 20, size)
		// New segments are written in the current version.
		if _, err := j2.AppendBytes([]byte("after")); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(j2.active.path)
		if err != nil {
			t.Fatal(err)
		}
		if h, err := decodeSegHeader(b); err != nil || h.version != FormatVersion {
			t.Fatalf("new segment header: %+v, %v", h, err)
		}
		mustClose(t, j2)
	}
}
