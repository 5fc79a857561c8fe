package etcd

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"testing"
	"unsafe"

	"github.com/spoolhq/spool/internal/nettest"
	"github.com/spoolhq/spool/raftadapter/etcdwire"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The message codec is package etcdwire; what is tested here is its use
// with this package's zero-copy entries, and the deprecated names that
// forward to it.

// msgApp builds a MsgApp carrying entries [lo, hi) read from s.
func msgApp(t testing.TB, s *Storage, lo, hi uint64) *pb.Message {
	t.Helper()
	m, err := msgAppErr(s, lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func msgAppErr(s *Storage, lo, hi uint64) (*pb.Message, error) {
	ents, err := s.Entries(lo, hi, math.MaxUint64)
	if err != nil {
		return nil, err
	}
	return &pb.Message{Type: new(pb.MsgApp), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(3)),
		LogTerm: new(uint64(1)), Index: new(lo - 1), Commit: new(lo), Entries: ents}, nil
}

func uintptrOf(p *byte) uintptr { return uintptr(unsafe.Pointer(p)) }

// TestWireLoopbackTCP writes zero-copy MsgApps over a real loopback TCP
// connection: the bytes on the wire are exactly proto.Marshal's, decode
// with proto.Unmarshal and with etcdwire.Unmarshal to equal messages, and the
// pins are released once each write returns.
func TestWireLoopbackTCP(t *testing.T) {
	s := openTest(t, t.TempDir(), &Options{ZeroCopy: true})
	rng := newRand(3)
	var ents []*pb.Entry
	for i := range 3000 {
		d := make([]byte, rng.IntN(2000))
		for k := range d {
			d[k] = byte(rng.Uint32())
		}
		e := &pb.Entry{Index: new(uint64(i + 1)), Term: new(uint64(1 + i/1000)), Data: d}
		if i%17 == 0 {
			e.Type = new(pb.EntryConfChange)
		}
		ents = append(ents, e)
	}
	if err := s.Append(ents); err != nil {
		t.Fatal(err)
	}
	client, server := nettest.Loopback(t)
	mw := etcdwire.NewWriter(client, s)
	type sent struct {
		wire []byte
		msg  *pb.Message
	}
	var want []sent
	done := make(chan error, 1)
	go func() {
		defer close(done)
		for lo := uint64(1); lo <= 3000; lo += 100 {
			m, err := msgAppErr(s, lo, lo+100)
			if err != nil {
				done <- err
				return
			}
			w, _ := proto.Marshal(m)
			want = append(want, sent{w, proto.CloneOf(m)})
			if err := mw.WriteMessage(m); err != nil {
				done <- err
				return
			}
			if p, _ := s.PinStats(); p != 0 {
				t.Errorf("%d entries still pinned after the write returned", p)
			}
		}
		done <- client.(*net.TCPConn).CloseWrite()
	}()
	br := bufio.NewReader(server)
	var frames [][]byte
	for {
		n, err := binary.ReadUvarint(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		f := make([]byte, n)
		if _, err := io.ReadFull(br, f); err != nil {
			t.Fatal(err)
		}
		frames = append(frames, f)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(frames) != len(want) {
		t.Fatalf("%d frames, want %d", len(frames), len(want))
	}
	for i, f := range frames {
		if !bytes.Equal(f, want[i].wire) {
			t.Fatalf("frame %d differs from proto.Marshal", i)
		}
		var viaProto pb.Message
		if err := proto.Unmarshal(f, &viaProto); err != nil || !proto.Equal(&viaProto, want[i].msg) {
			t.Fatalf("frame %d: proto.Unmarshal %v", i, err)
		}
		mine, err := etcdwire.Unmarshal(f)
		if err != nil || !proto.Equal(mine, want[i].msg) {
			t.Fatalf("frame %d: etcdwire.Unmarshal %v", i, err)
		}
		// Decoded Data aliases the frame.
		if d := mine.Entries[0].Data; len(d) > 0 && !aliases(f, d) {
			t.Fatalf("frame %d: decoded Data is a copy", i)
		}
	}
	st := mw.Stats()
	var payload int64
	for _, e := range ents {
		payload += int64(len(e.Data))
	}
	if st.ReferenceBytes != payload {
		t.Fatalf("payload bytes passed by reference %d, want %d", st.ReferenceBytes, payload)
	}
	t.Logf("wrote %d messages: %d payload bytes by reference, %d framing bytes encoded", st.Messages, st.ReferenceBytes, st.FramingBytes)
}

func aliases(buf, sub []byte) bool {
	if len(sub) == 0 {
		return true
	}
	start := &buf[0]
	end := &buf[len(buf)-1]
	p := &sub[0]
	return uintptrOf(p) >= uintptrOf(start) && uintptrOf(p) <= uintptrOf(end)
}

// TestDeprecatedWireNames checks the names kept for code written before
// the codec moved to etcdwire: the sentinel is the same error, a writer
// made with a Storage releases its pins (and one made with a nil Storage
// releases nothing and does not panic), and what the old functions write
// and read is etcdwire's.
func TestDeprecatedWireNames(t *testing.T) {
	if ErrMessageFormat != etcdwire.ErrFormat {
		t.Fatal("ErrMessageFormat is not etcdwire.ErrFormat")
	}
	s := openTest(t, t.TempDir(), &Options{ZeroCopy: true})
	if err := s.Append(entsOf(1, 1, 8, 100)); err != nil {
		t.Fatal(err)
	}
	var wire bytes.Buffer
	m := msgApp(t, s, 1, 9)
	if p, _ := s.PinStats(); p == 0 {
		t.Fatal("zero-copy entries not pinned")
	}
	if err := NewMessageWriter(&wire, s).WriteMessage(m); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.PinStats(); p != 0 {
		t.Fatalf("%d entries still pinned after the write", p)
	}
	n, k := binary.Uvarint(wire.Bytes())
	if k <= 0 || int(n) != MessageSize(m) || !bytes.Equal(wire.Bytes()[k:], MarshalMessage(nil, m)) {
		t.Fatal("frame is not MessageSize and MarshalMessage's bytes")
	}
	if err := NewMessageWriter(&wire, nil).WriteMessage(m); err != nil {
		t.Fatal(err)
	}
	r := NewMessageReader(&wire)
	for range 2 {
		got, err := r.ReadMessage()
		if err != nil || !proto.Equal(got, m) {
			t.Fatalf("read back %v, %v", got, err)
		}
	}
	if _, err := UnmarshalMessage([]byte{0x3a, 0x05, 0x01}); !errors.Is(err, ErrMessageFormat) {
		t.Fatalf("malformed message: %v", err)
	}
	if DefaultMaxMessageSize != etcdwire.DefaultMaxSize {
		t.Fatal("DefaultMaxMessageSize differs")
	}
}
