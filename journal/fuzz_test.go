package journal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzChunkHeader decodes arbitrary bytes as a chunk header: never a panic,
// and a header that decodes re-encodes to the same bytes.
func FuzzChunkHeader(f *testing.F) {
	var b [chunkHeaderSize]byte
	h := chunkHeader{length: 100, kind: kindFull, index: 7, sum: 42}
	h.encode(b[:], 99)
	f.Add(b[:], uint64(99))
	f.Add(make([]byte, chunkHeaderSize), uint64(0))
	f.Add([]byte{1, 2, 3}, uint64(1))
	f.Fuzz(func(t *testing.T, data []byte, salt uint64) {
		h, ok := decodeChunkHeader(data, salt)
		if !ok {
			return
		}
		var out [chunkHeaderSize]byte
		h.encode(out[:], salt)
		if !bytes.Equal(out[:], data[:chunkHeaderSize]) {
			t.Fatalf("decoded header re-encodes differently")
		}
	})
}

// FuzzSegmentHeaderTrailer decodes arbitrary bytes as a segment header and
// a trailer.
func FuzzSegmentHeaderTrailer(f *testing.F) {
	var hb [headerSize]byte
	(&segHeader{version: FormatVersion, journalID: 1, segID: 2, base: 3, size: 1 << 20}).encode(hb[:])
	f.Add(hb[:])
	var tb [trailerSize]byte
	(&segTrailer{journalID: 1, segID: 2, firstStart: 3, count: 4, dataEnd: 5000}).encode(tb[:])
	f.Add(tb[:])
	f.Add([]byte("SPOOLSEG"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if h, err := decodeSegHeader(data); err == nil {
			if h.size < minSegmentSize || h.size > maxSegmentSize || h.version > FormatVersion {
				t.Fatalf("accepted out-of-range header %+v", h)
			}
		} else if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrForeign) && !errors.Is(err, ErrVersion) {
			t.Fatalf("untyped error %v", err)
		}
		decodeTrailer(data)
	})
}

// FuzzMetaSlot decodes arbitrary bytes as a meta slot: typed errors only,
// and a decoded slot re-encodes to a slot that decodes equal.
func FuzzMetaSlot(f *testing.F) {
	var b [metaSlotSize]byte
	st := metaState{generation: 3, journalID: 9, first: 1, minSegID: 1, nextSegID: 4,
		kv: []metaKV{{"term", []byte{1}}, {"vote", []byte("n2")}}}
	st.encode(&b)
	f.Add(b[:])
	f.Add(make([]byte, metaSlotSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeMetaSlot(data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrForeign) && !errors.Is(err, ErrVersion) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		var out [metaSlotSize]byte
		m.encode(&out)
		m2, err := decodeMetaSlot(out[:])
		if err != nil || len(m2.kv) != len(m.kv) || m2.first != m.first {
			t.Fatalf("re-encoded slot does not decode equal: %v", err)
		}
	})
}

// FuzzOpen writes a valid small journal, overwrites a fuzzed range of one of
// its files with fuzzed bytes, and opens and reads it: Open and every read
// either succeed, returning entries byte-identical to those appended, or
// fail with a typed error. Never a panic.
func FuzzOpen(f *testing.F) {
	f.Add(uint8(0), uint32(0), []byte{0xff})
	f.Add(uint8(1), uint32(4096), []byte("garbage"))
	f.Add(uint8(1), uint32(65472), bytes.Repeat([]byte{0}, 64))
	f.Add(uint8(2), uint32(8), []byte{9, 9, 9, 9})
	f.Add(uint8(1), uint32(4100), []byte{0x80})
	f.Fuzz(func(t *testing.T, which uint8, off uint32, patch []byte) {
		dir := t.TempDir()
		j, err := Open(dir, testOpts())
		if err != nil {
			t.Fatal(err)
		}
		size := func(i uint64) int { return int(i * 50 % 900) }
		for i := uint64(1); i <= 40; i++ {
			j.AppendBytes(payload(i, size(i)))
		}
		crash := which&0x80 != 0
		if crash {
			j.Sync()
			j.crashClose()
		} else {
			j.Close()
		}
		names, _ := os.ReadDir(dir)
		var files []string
		for _, n := range names {
			if n.Name() != "LOCK" {
				files = append(files, filepath.Join(dir, n.Name()))
			}
		}
		target := files[int(which&0x7f)%len(files)]
		b, _ := os.ReadFile(target)
		if len(b) == 0 {
			return
		}
		o := int(off) % len(b)
		copy(b[o:], patch)
		os.WriteFile(target, b, 0o644)

		j, err = Open(dir, testOpts())
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrForeign) && !errors.Is(err, ErrVersion) {
				t.Fatalf("Open: untyped error %v", err)
			}
			return
		}
		defer j.Close()
		for i := j.FirstIndex(); i <= j.LastIndex(); i++ {
			got, err := j.ReadBytes(i, nil)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrOutOfRange) && !errors.Is(err, ErrForeign) && !errors.Is(err, ErrVersion) {
					t.Fatalf("read %d: untyped error %v", i, err)
				}
				continue
			}
			if i > 40 || !bytes.Equal(got, payload(i, size(i))) {
				t.Fatalf("entry %d returned altered", i)
			}
		}
		// The journal stays writable.
		if _, err := j.AppendBytes([]byte("x")); err != nil {
			t.Fatalf("append after recovery: %v", err)
		}
	})
}
