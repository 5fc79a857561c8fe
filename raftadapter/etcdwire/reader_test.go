package etcdwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// TestReadMessageAllocs checks that decoding a MsgApp costs a constant
// number of allocations, whatever the number of entries: the message, its
// scalar fields, one block for the entries and their scalar fields, one
// for their pointers; no per-entry Data copy.
func TestReadMessageAllocs(t *testing.T) {
	for _, n := range []int{1, 64, 512} {
		frame := Marshal(nil, msgApp(entsOf(1, 1, n, 512), 1))
		allocs := testing.AllocsPerRun(50, func() {
			d, err := Unmarshal(frame)
			if err != nil || len(d.Entries) != n {
				t.Fatal(err)
			}
		})
		if allocs > 6 {
			t.Fatalf("Unmarshal of %d entries: %.1f allocations", n, allocs)
		}
		t.Logf("Unmarshal of %d entries: %.0f allocations", n, allocs)
	}
}

// TestReadMessageHostileLength checks that a frame length the stream does
// not back commits memory only as bytes arrive, and that long frames that
// are backed still decode.
func TestReadMessageHostileLength(t *testing.T) {
	// 1 GiB announced (the default limit), 10 bytes sent.
	stream := append(binary.AppendUvarint(nil, DefaultMaxSize), make([]byte, 10)...)
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	_, err := NewReader(bytes.NewReader(stream)).ReadMessage()
	runtime.ReadMemStats(&ms1)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("ReadMessage of a cut frame: %v", err)
	}
	if a := ms1.TotalAlloc - ms0.TotalAlloc; a > 2*exactFrame {
		t.Fatalf("a 1 GiB length backed by 10 bytes allocated %d bytes", a)
	}
	// Past the limit: refused outright.
	mr := NewReader(bytes.NewReader(binary.AppendUvarint(nil, 1<<20+1)))
	mr.MaxSize = 1 << 20
	if _, err := mr.ReadMessage(); !errors.Is(err, ErrFormat) {
		t.Fatalf("frame over MaxSize: %v", err)
	}
	// Frames around and well past exactFrame round-trip.
	for _, size := range []int{exactFrame - 100, exactFrame + 1, 3*exactFrame + 12345} {
		m := &pb.Message{Type: pb.MsgSnap.Enum(), Snapshot: &pb.Snapshot{Data: bytes.Repeat([]byte{0xab}, size),
			Metadata: &pb.SnapshotMetadata{Index: new(uint64(9)), Term: new(uint64(2))}}}
		var wire bytes.Buffer
		if err := NewWriter(&wire, nil).WriteMessage(m); err != nil {
			t.Fatal(err)
		}
		got, err := NewReader(&wire).ReadMessage()
		if err != nil || !proto.Equal(got, m) {
			t.Fatalf("frame with %d bytes of data: %v", size, err)
		}
	}
}
