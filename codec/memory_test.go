package codec_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/spoolhq/spool/codec"
	"github.com/spoolhq/spool/journal"
)

// TestBlobStreamingMemory appends a payload larger than a segment through
// BlobCodec and decodes it by streaming, plain and lz4 compressed, and
// asserts that neither side allocates more than 2 MiB in total nor grows
// the heap by more than 4 MiB: the payload is never held in memory. The
// size is SPOOL_CODEC_BLOB_MIB (default 24; 256 for a long run).
func TestBlobStreamingMemory(t *testing.T) {
	if journal.DebugChecks {
		t.Skip("spooldebug build: the journal's debug checks allocate")
	}
	size := int64(24)
	if s := os.Getenv("SPOOL_CODEC_BLOB_MIB"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			t.Fatalf("SPOOL_CODEC_BLOB_MIB=%q", s)
		}
		size = n
	}
	size <<= 20
	for _, p := range policies[:2] {
		j, err := journal.Open(t.TempDir(), &journal.Options{Sync: journal.PageCache, SegmentSize: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		reg := newTestRegistry(t, p.opts)
		probe := newHeapProbe()
		idx, err := codec.Append(j, reg, codec.Blob{Src: &genReader{n: size, probe: probe}, Size: size})
		if err != nil {
			t.Fatal(err)
		}
		if a := probe.allocated(); a > 2<<20 || probe.peak > 4<<20 {
			t.Errorf("%s append: %d bytes allocated, heap peak +%d", p.name, a, probe.peak)
		}
		probe = newHeapProbe()
		cw := &checkWriter{probe: probe}
		blob := codec.Blob{Dst: cw}
		if err := codec.Read(j, reg, idx, &blob); err != nil {
			t.Fatal(err)
		}
		if cw.bad || blob.Size != size {
			t.Fatalf("%s: blob differs (%d bytes)", p.name, blob.Size)
		}
		if a := probe.allocated(); a > 2<<20 || probe.peak > 4<<20 {
			t.Errorf("%s decode: %d bytes allocated, heap peak +%d", p.name, a, probe.peak)
		}
		t.Logf("%s: %d MiB, entry of %d bytes in the journal", p.name, size>>20, mustSize(t, j, idx))
		must(t, j.Close())
	}
}

func mustSize(t *testing.T, j *journal.Journal, idx uint64) int64 {
	v, err := j.Get(idx)
	must(t, err)
	defer v.Release()
	return v.Size()
}
