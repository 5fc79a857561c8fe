package machine

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMeasureSmall(t *testing.T) {
	l, err := Measure(Config{Dir: t.TempDir(), SeqBytes: 4 << 20, Syncs: 8, MemcpyBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if l.SeqWriteMiBps <= 0 || l.MemcpyMiBps <= 0 || l.Memcpy4KiBMiBps <= 0 {
		t.Fatalf("non-positive bandwidth: %+v", l)
	}
	if len(l.FsyncAppend) != 8 || len(l.FsyncInPlace) != 8 || len(l.FsyncPrealloc) != 8 {
		t.Fatalf("sample counts: %d %d %d", len(l.FsyncAppend), len(l.FsyncInPlace), len(l.FsyncPrealloc))
	}
	if l.FsyncInPlace[0] > l.FsyncInPlace[7] {
		t.Fatal("latencies not sorted")
	}
}

// TestSeqWriteSyncAndRandCopy: the 1 MiB write + fdatasync floor times one
// call per MiB and removes its file; the random-copy floor reports a time
// per copy and removes its file.
func TestSeqWriteSyncAndRandCopy(t *testing.T) {
	dir := t.TempDir()
	mibps, lat, err := SeqWriteSync(filepath.Join(dir, "seq"), 3<<20)
	if err != nil {
		t.Fatal(err)
	}
	if mibps <= 0 || len(lat) != 3 || lat[0] > lat[2] {
		t.Fatalf("SeqWriteSync = %v MiB/s, latencies %v", mibps, lat)
	}
	ns, err := RandCopy(filepath.Join(dir, "rand"), 4<<20, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if ns <= 0 {
		t.Fatalf("RandCopy = %v ns", ns)
	}
	if _, err := RandCopy(filepath.Join(dir, "small"), RandCopySize, 10); err == nil {
		t.Fatal("RandCopy of a file smaller than two copies succeeded")
	}
	left, err := os.ReadDir(dir)
	if err != nil || len(left) != 0 {
		t.Fatalf("files left: %v, %v", left, err)
	}
	l, err := Measure(Config{Dir: dir, SeqBytes: 2 << 20, Syncs: 4, MemcpyBytes: 1 << 20, RandCopyBytes: 2 << 20, RandCopies: 100})
	if err != nil {
		t.Fatal(err)
	}
	if l.RandCopyNs <= 0 || l.SeqSyncMiBps <= 0 || len(l.SeqSync) != 2 {
		t.Fatalf("Measure: random copy %v ns, 1 MiB sync %v MiB/s, %d samples", l.RandCopyNs, l.SeqSyncMiBps, len(l.SeqSync))
	}
}
