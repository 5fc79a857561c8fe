package machine

import "testing"

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
