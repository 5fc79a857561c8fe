package etcd

import (
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/stream"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The decoders of untrusted bytes: on-disk entry headers (parseEntryHeader,
// readEntryHeader) and meta records (decodeHardState, decodeLogPoint,
// decodeSnapRecord). Each target checks that arbitrary input neither
// panics nor decodes silently wrong: a failure is a typed error wrapping
// journal.ErrCorrupt (or journal.ErrVersion), and a success re-encodes to
// a record that decodes to the same value. The wire decoders' targets
// (FuzzMessageReader, FuzzUnmarshalMessage) are package etcdwire's. Seed
// corpora: testdata/fuzz/FuzzXxx.

// windowSource serves the rest of a stream in windows of a fixed size.
type windowSource struct {
	b    []byte
	size int
}

func (w *windowSource) NextWindow() ([]byte, error) {
	if len(w.b) == 0 {
		return nil, io.EOF
	}
	n := min(w.size, len(w.b))
	p := w.b[:n]
	w.b = w.b[n:]
	return p, nil
}

// splitReader returns a Reader over b whose first window holds split bytes
// and the others step bytes each, as an entry spanning segments reads.
func splitReader(b []byte, split, step int) *stream.Reader {
	split = min(split, len(b))
	return stream.NewReader(&windowSource{b: b[split:], size: max(step, 1)}, b[:split], int64(len(b)))
}

func FuzzEntryHeader(f *testing.F) {
	var h [maxEntryHeader]byte
	for _, c := range []struct {
		term  uint64
		flags byte
		data  string
	}{
		{1, flagTermSet | flagDataSet, "x=1"},
		{0, 0, ""},
		{1 << 63, flagTermSet | flagTypeSet | byte(pb.EntryConfChangeV2), "cc"},
		{300, flagTermSet | flagDataSet, ""},
	} {
		n := putEntryHeader(h[:], c.term, c.flags)
		f.Add(append(h[:n:n], c.data...), uint8(1), uint8(1))
	}
	f.Add([]byte{2, 1, 0}, uint8(0), uint8(2))                                                          // version 2
	f.Add([]byte{1, 0x80}, uint8(2), uint8(1))                                                          // truncated term
	f.Add([]byte{1, 5}, uint8(2), uint8(1))                                                             // no flags byte
	f.Add([]byte{0x81, 0x00, 7, 0xff, 'a'}, uint8(3), uint8(1))                                         // non-minimal version varint
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0}, uint8(4), uint8(3)) // term overflows
	f.Fuzz(func(t *testing.T, b []byte, split, step uint8) {
		term, flags, n, err := parseEntryHeader(b)
		r := splitReader(b, int(split), int(step))
		rterm, rflags, rerr := readEntryHeader(r)
		if (err == nil) != (rerr == nil) {
			t.Fatalf("parseEntryHeader: %v; readEntryHeader: %v", err, rerr)
		}
		if err != nil {
			for _, e := range []error{err, rerr} {
				if !errors.Is(e, errEntryFormat) || !errors.Is(e, journal.ErrCorrupt) {
					t.Fatalf("untyped error %v", e)
				}
			}
			return
		}
		if n <= 0 || n > len(b) || n > maxEntryHeader {
			t.Fatalf("header length %d of %d bytes", n, len(b))
		}
		if rterm != term || rflags != flags || r.Offset() != int64(n) {
			t.Fatalf("readEntryHeader %d/%#x at %d, parseEntryHeader %d/%#x at %d", rterm, rflags, r.Offset(), term, flags, n)
		}
		// Re-encoding gives the same value (and the canonical encoding is
		// no longer than the input's).
		k := putEntryHeader(h[:], term, flags)
		t2, f2, n2, err := parseEntryHeader(h[:k])
		if err != nil || t2 != term || f2 != flags || n2 != k || k > n {
			t.Fatalf("re-encoded %x: %d/%#x/%d, %v; want %d/%#x", h[:k], t2, f2, n2, err, term, flags)
		}
		// The size raft's maxSize counts is proto.Size of the entry built
		// (the readers pass nil Data for an empty payload, as here).
		var data []byte
		if len(b) > n {
			data = b[n:len(b):len(b)]
		}
		var e pb.Entry
		var sc entryScalars
		fill(&e, &sc, 42, term, flags, data)
		if got, want := entryProtoSize(42, term, flags, len(b)-n), uint64(proto.Size(&e)); got != want {
			t.Fatalf("entryProtoSize %d, proto.Size %d (flags %#x)", got, want, flags)
		}
	})
}

// checkRecordErr fails t unless err is typed.
func checkRecordErr(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, journal.ErrCorrupt) && !errors.Is(err, journal.ErrVersion) {
		t.Fatalf("untyped error %v", err)
	}
}

func FuzzHardState(f *testing.F) {
	f.Add(hardState{term: 1, vote: 2, commit: 3}.encode())
	f.Add(hardState{}.encode())
	f.Add(hardState{term: 1 << 63, vote: 1<<64 - 1, commit: 1 << 40}.encode())
	f.Add([]byte{2, 1, 2, 3})    // version 2
	f.Add([]byte{1, 1, 2})       // truncated
	f.Add([]byte{1, 1, 2, 3, 4}) // trailing byte
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHardState(b)
		if err != nil {
			checkRecordErr(t, err)
			return
		}
		if !h.set {
			t.Fatal("decoded HardState not marked set")
		}
		h2, err := decodeHardState(h.encode())
		if err != nil || h2 != h {
			t.Fatalf("re-encoded %+v decodes to %+v, %v", h, h2, err)
		}
	})
}

func FuzzLogPoint(f *testing.F) {
	f.Add(logPoint{index: 5, term: 2, kind: pointCompact}.encode())
	f.Add(logPoint{index: 1 << 50, term: 9, kind: pointReset}.encode())
	f.Add(logPoint{kind: pointCompact}.encode())
	f.Add([]byte{1, 5, 2, 3})    // bad kind
	f.Add([]byte{1, 5, 2})       // no kind
	f.Add([]byte{1, 5, 2, 1, 1}) // trailing byte
	f.Add([]byte{9, 5, 2, 1})    // version 9
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeLogPoint(b)
		if err != nil {
			checkRecordErr(t, err)
			return
		}
		if p.kind != pointCompact && p.kind != pointReset {
			t.Fatalf("decoded kind %d", p.kind)
		}
		p2, err := decodeLogPoint(p.encode())
		if err != nil || p2 != p {
			t.Fatalf("re-encoded %+v decodes to %+v, %v", p, p2, err)
		}
	})
}

func FuzzSnapRecord(f *testing.F) {
	for _, r := range []snapRecord{
		{index: 10, term: 3, dataLen: 100, dataSum: 0xdeadbeef, cs: &pb.ConfState{Voters: []uint64{1, 2, 3}}},
		{index: 1, term: 1, cs: &pb.ConfState{}},
		{index: 7, term: 2, dataLen: 1, dataSum: 1, cs: &pb.ConfState{Voters: []uint64{1}, Learners: []uint64{4},
			VotersOutgoing: []uint64{2}, LearnersNext: []uint64{5}, AutoLeave: new(true)}},
	} {
		b, err := r.encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{1, 1, 1, 0, 1, 2, 3})                                                                   // truncated checksum
	f.Add([]byte{1, 1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0}) // huge data length
	f.Add(append([]byte{1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0x0a, 0x05, 0x01))                          // bad conf state
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeSnapRecord(b)
		if err != nil {
			checkRecordErr(t, err)
			return
		}
		if r.cs == nil {
			t.Fatal("decoded record without a ConfState")
		}
		if r.dataLen > maxSnapDataLen {
			t.Fatalf("data length %d accepted", r.dataLen)
		}
		enc, err := r.encode()
		if err != nil {
			t.Fatal(err)
		}
		r2, err := decodeSnapRecord(enc)
		if err != nil || r2.index != r.index || r2.term != r.term || r2.dataLen != r.dataLen ||
			r2.dataSum != r.dataSum || !proto.Equal(r2.cs, r.cs) {
			t.Fatalf("re-encoded %+v decodes to %+v, %v", r, r2, err)
		}
	})
}

// TestMetaRecordsRoundTrip checks the encoders against the decoders for
// values the Storage writes, and that each decoder refuses every strict
// prefix of a valid record.
func TestMetaRecordsRoundTrip(t *testing.T) {
	h := hardState{term: 7, vote: 3, commit: 1 << 33, set: true}
	p := logPoint{index: 1 << 40, term: 6, kind: pointReset}
	s := snapRecord{index: 1 << 40, term: 6, dataLen: 12345, dataSum: 1<<64 - 1, cs: &pb.ConfState{Voters: []uint64{1, 2}, AutoLeave: new(false)}}
	sb, err := s.encode()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeHardState(h.encode()); err != nil || got != h {
		t.Fatalf("hard state %+v, %v", got, err)
	}
	if got, err := decodeLogPoint(p.encode()); err != nil || got != p {
		t.Fatalf("log point %+v, %v", got, err)
	}
	if got, err := decodeSnapRecord(sb); err != nil || got.index != s.index || got.term != s.term ||
		got.dataLen != s.dataLen || got.dataSum != s.dataSum || !proto.Equal(got.cs, s.cs) {
		t.Fatalf("snap record %+v, %v", got, err)
	}
	for _, c := range []struct {
		name   string
		b      []byte
		decode func([]byte) error
		// prefixes that still decode (the ConfState is the tail of a
		// snapshot record, and a shorter ConfState is still one)
		minLen int
	}{
		{"hard state", h.encode(), func(b []byte) error { _, err := decodeHardState(b); return err }, 0},
		{"log point", p.encode(), func(b []byte) error { _, err := decodeLogPoint(b); return err }, 0},
		{"snap record", sb, func(b []byte) error { _, err := decodeSnapRecord(b); return err }, len(sb) - proto.Size(s.cs)},
	} {
		limit := len(c.b)
		if c.minLen > 0 {
			limit = c.minLen
		}
		for n := range limit {
			err := c.decode(c.b[:n])
			if err == nil {
				t.Fatalf("%s: prefix of %d bytes decoded", c.name, n)
			}
			if !errors.Is(err, journal.ErrCorrupt) {
				t.Fatalf("%s: prefix of %d bytes: %v", c.name, n, err)
			}
		}
	}
	// A version from the future is ErrVersion.
	if _, err := decodeHardState(binary.AppendUvarint(nil, 2)); !errors.Is(err, journal.ErrVersion) {
		t.Fatalf("version 2: %v", err)
	}
}
