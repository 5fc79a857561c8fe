package etcd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime"
	"testing"
	"unsafe"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The receiving side of replication: a follower reads a MsgApp frame,
// decodes it for Node.Step and appends its entries to its journal. The
// tests below pin down the copies on that path: the frame is read into one
// buffer of its own (for frames larger than the MessageReader's 16 KiB
// buffer, straight from the connection into it), entry Data aliases that
// buffer (decoding copies no payload byte), and appending copies each
// payload byte once, from the frame into the mapped segment, with no
// intermediate buffer.

// recordingReader records the slices its Read calls fill.
type recordingReader struct {
	r     io.Reader
	reads [][]byte
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.reads = append(r.reads, p[:n])
	return n, err
}

// overlap returns the number of bytes of p within [lo, hi).
func overlap(p []byte, lo, hi uintptr) int {
	if len(p) == 0 {
		return 0
	}
	a := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	b := a + uintptr(len(p))
	if a < lo {
		a = lo
	}
	if b > hi {
		b = hi
	}
	if b <= a {
		return 0
	}
	return int(b - a)
}

// TestReceiveMsgAppCopies checks the copies of the receive path for a
// large MsgApp (64 entries of 4 KiB) and a small one.
func TestReceiveMsgAppCopies(t *testing.T) {
	for _, c := range []struct {
		name       string
		n, size    int
		directRead bool // the frame is larger than the reader's buffer
	}{
		{"large", 64, 4 << 10, true},
		{"small", 8, 100, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			leader := openTest(t, t.TempDir(), &Options{ZeroCopy: true, SegmentSize: 4 << 20})
			ents := entsOf(1, 1, c.n, c.size)
			if err := leader.Append(ents); err != nil {
				t.Fatal(err)
			}
			var wire bytes.Buffer
			mw := NewMessageWriter(&wire, leader)
			if err := mw.WriteMessage(msgApp(t, leader, 1, uint64(c.n)+1)); err != nil {
				t.Fatal(err)
			}
			frameLen := wire.Len()

			// Read: the frame lands in one buffer; Data aliases it.
			rec := &recordingReader{r: bytes.NewReader(wire.Bytes())}
			m, err := NewMessageReader(rec).ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			var lo, hi uintptr = math.MaxUint, 0
			for i, e := range m.Entries {
				if !bytes.Equal(e.Data, ents[i].Data) {
					t.Fatalf("entry %d: data differs", i)
				}
				p := uintptr(unsafe.Pointer(unsafe.SliceData(e.Data)))
				lo, hi = min(lo, p), max(hi, p+uintptr(len(e.Data)))
			}
			if span := int(hi - lo); span >= frameLen {
				t.Fatalf("entry data spans %d bytes, more than the %d-byte frame: not one buffer", span, frameLen)
			}
			// Bytes of the entries' region that the connection's reads
			// wrote in place (the rest came through the reader's buffer).
			direct := 0
			for _, p := range rec.reads {
				direct += overlap(p, lo, hi)
			}
			payload := c.n * c.size
			if c.directRead && direct < payload-readerBufferSize {
				t.Fatalf("%d of %d payload bytes read straight into the frame buffer", direct, payload)
			}
			t.Logf("frame %d bytes: %d payload bytes read from the connection straight into the message buffer, %d through the reader's buffer",
				frameLen, direct, payload-direct)

			// Append: one copy, from the frame into the mapped segment;
			// no allocation proportional to the payload.
			follower := openTest(t, t.TempDir(), &Options{SegmentSize: 4 << 20})
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			if err := follower.Save(hsOf(1, 1, 0), m.Entries, nil, true); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&ms1)
			allocated := ms1.TotalAlloc - ms0.TotalAlloc
			if allocated >= uint64(payload)/4 && allocated > 16<<10 {
				t.Fatalf("appending %d payload bytes allocated %d bytes", payload, allocated)
			}
			t.Logf("appending %d entries (%d payload bytes) allocated %d bytes in %d allocations",
				c.n, payload, allocated, ms1.Mallocs-ms0.Mallocs)
			got, err := follower.Entries(1, uint64(c.n)+1, math.MaxUint64)
			if err != nil {
				t.Fatal(err)
			}
			requireEntries(t, ents, got)
		})
	}
}

// TestReadMessageAllocs checks that decoding a MsgApp costs a constant
// number of allocations, whatever the number of entries: the frame buffer,
// the message, and one block each for entries, their pointers and their
// scalar fields; no per-entry Data copy.
func TestReadMessageAllocs(t *testing.T) {
	s := openTest(t, t.TempDir(), &Options{SegmentSize: 4 << 20})
	for _, n := range []int{1, 64, 512} {
		if err := s.Append(entsOf(1, 1, n, 512)); err != nil {
			t.Fatal(err)
		}
		m := msgApp(t, s, 1, uint64(n)+1)
		frame := MarshalMessage(nil, m)
		allocs := testing.AllocsPerRun(50, func() {
			d, err := UnmarshalMessage(frame)
			if err != nil || len(d.Entries) != n {
				t.Fatal(err)
			}
		})
		if allocs > 6 {
			t.Fatalf("UnmarshalMessage of %d entries: %.1f allocations", n, allocs)
		}
		t.Logf("UnmarshalMessage of %d entries: %.0f allocations", n, allocs)
	}
}

// TestReadMessageHostileLength checks that a frame length the stream does
// not back commits memory only as bytes arrive, and that long frames that
// are backed still decode.
func TestReadMessageHostileLength(t *testing.T) {
	// 1 GiB announced (the default limit), 10 bytes sent.
	stream := append(binary.AppendUvarint(nil, DefaultMaxMessageSize), make([]byte, 10)...)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	_, err := NewMessageReader(bytes.NewReader(stream)).ReadMessage()
	runtime.ReadMemStats(&ms1)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("ReadMessage of a cut frame: %v", err)
	}
	if a := ms1.TotalAlloc - ms0.TotalAlloc; a > 2*exactFrame {
		t.Fatalf("a 1 GiB length backed by 10 bytes allocated %d bytes", a)
	}
	// Past the limit: refused outright.
	mr := NewMessageReader(bytes.NewReader(binary.AppendUvarint(nil, 1<<20+1)))
	mr.MaxSize = 1 << 20
	if _, err := mr.ReadMessage(); !errors.Is(err, ErrMessageFormat) {
		t.Fatalf("frame over MaxSize: %v", err)
	}
	// Frames around and well past exactFrame round-trip.
	for _, size := range []int{exactFrame - 100, exactFrame + 1, 3*exactFrame + 12345} {
		m := &pb.Message{Type: pb.MsgSnap.Enum(), Snapshot: &pb.Snapshot{Data: bytes.Repeat([]byte{0xab}, size),
			Metadata: &pb.SnapshotMetadata{Index: new(uint64(9)), Term: new(uint64(2))}}}
		var wire bytes.Buffer
		if err := NewMessageWriter(&wire, nil).WriteMessage(m); err != nil {
			t.Fatal(err)
		}
		got, err := NewMessageReader(&wire).ReadMessage()
		if err != nil || !proto.Equal(got, m) {
			t.Fatalf("frame with %d bytes of data: %v", size, err)
		}
	}
}
