package etcd

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"testing"
	"unsafe"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// randMessage builds a message with every field randomly present or not.
func randMessage(rng *rand.Rand, depth int) *pb.Message {
	maybe := func() bool { return rng.IntN(3) > 0 }
	u := func() *uint64 {
		if !maybe() {
			return nil
		}
		return new(rng.Uint64() >> rng.IntN(64))
	}
	bs := func(max int) []byte {
		switch rng.IntN(4) {
		case 0:
			return nil
		case 1:
			return []byte{}
		}
		b := make([]byte, rng.IntN(max))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	m := &pb.Message{To: u(), From: u(), Term: u(), LogTerm: u(), Index: u(), Commit: u(), Vote: u(), RejectHint: u(), Context: bs(20)}
	if maybe() {
		m.Type = new(pb.MessageType(rng.IntN(24)))
	}
	if maybe() {
		m.Reject = new(rng.IntN(2) == 0)
	}
	for range rng.IntN(6) {
		e := &pb.Entry{Term: u(), Index: u(), Data: bs(3000)}
		if maybe() {
			e.Type = new(pb.EntryType(rng.IntN(3)))
		}
		if rng.IntN(10) == 0 {
			e.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7))
		}
		m.Entries = append(m.Entries, e)
	}
	if rng.IntN(4) == 0 {
		s := &pb.Snapshot{Data: bs(5000)}
		if maybe() {
			s.Metadata = &pb.SnapshotMetadata{Index: u(), Term: u()}
			if maybe() {
				cs := &pb.ConfState{}
				for range rng.IntN(4) {
					cs.Voters = append(cs.Voters, rng.Uint64N(1000))
					cs.Learners = append(cs.Learners, rng.Uint64N(1<<40))
				}
				if maybe() {
					cs.VotersOutgoing = []uint64{1, 2}
					cs.LearnersNext = []uint64{3}
				}
				if maybe() {
					cs.AutoLeave = new(rng.IntN(2) == 0)
				}
				s.Metadata.ConfState = cs
			}
		}
		m.Snapshot = s
	}
	if depth < 2 {
		for range rng.IntN(3) {
			m.Responses = append(m.Responses, randMessage(rng, depth+1))
		}
	}
	if rng.IntN(10) == 0 {
		m.ProtoReflect().SetUnknown(protowire.AppendBytes(protowire.AppendTag(nil, 200, protowire.BytesType), []byte("x")))
	}
	return m
}

// TestWireMatchesProto checks MarshalMessage, MessageSize and
// UnmarshalMessage against protobuf-go on random messages: identical
// bytes, identical size, equal decoded messages.
func TestWireMatchesProto(t *testing.T) {
	rng := newRand(7)
	for i := range 3000 {
		m := randMessage(rng, 0)
		want, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got := MarshalMessage(nil, m)
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d: MarshalMessage differs from proto.Marshal\n got %x\nwant %x", i, got, want)
		}
		if MessageSize(m) != proto.Size(m) {
			t.Fatalf("message %d: MessageSize %d, proto.Size %d", i, MessageSize(m), proto.Size(m))
		}
		dec, err := UnmarshalMessage(want)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !proto.Equal(dec, m) {
			t.Fatalf("message %d: decoded %v\nwant %v", i, dec, m)
		}
	}
}

// loopback returns the two ends of a TCP connection on 127.0.0.1.
func loopback(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		ch <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-ch
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

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
// with proto.Unmarshal and with MessageReader to equal messages, and the
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
	client, server := loopback(t)
	mw := NewMessageWriter(client, s)
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
		mine, err := UnmarshalMessage(f)
		if err != nil || !proto.Equal(mine, want[i].msg) {
			t.Fatalf("frame %d: UnmarshalMessage %v", i, err)
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

// TestMessageReaderStream round-trips random messages through
// MessageWriter and MessageReader over TCP.
func TestMessageReaderStream(t *testing.T) {
	client, server := loopback(t)
	rng := newRand(11)
	var msgs []*pb.Message
	for range 500 {
		msgs = append(msgs, randMessage(rng, 0))
	}
	go func() {
		mw := NewMessageWriter(client, nil)
		for i := 0; i < len(msgs); i += 7 {
			if err := mw.WriteMessages(msgs[i:min(i+7, len(msgs))]); err != nil {
				return
			}
		}
		client.(*net.TCPConn).CloseWrite()
	}()
	mr := NewMessageReader(server)
	for i := range msgs {
		m, err := mr.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !proto.Equal(m, msgs[i]) {
			t.Fatalf("message %d differs", i)
		}
	}
	if _, err := mr.ReadMessage(); err != io.EOF {
		t.Fatalf("end of stream: %v", err)
	}
	// A frame above the limit is refused before anything is allocated.
	mr2 := NewMessageReader(bytes.NewReader(binary.AppendUvarint(nil, 1<<40)))
	if _, err := mr2.ReadMessage(); err == nil {
		t.Fatal("oversized frame accepted")
	}
}

// TestWriteMessageAllocs checks that writing a MsgApp costs a constant
// number of allocations, not one per entry, and copies no payload byte.
func TestWriteMessageAllocs(t *testing.T) {
	s := openTest(t, t.TempDir(), &Options{ZeroCopy: true})
	if err := s.Append(entsOf(1, 1, 64, 1024)); err != nil {
		t.Fatal(err)
	}
	client, server := loopback(t)
	go io.Copy(io.Discard, server)
	mw := NewMessageWriter(client, nil)
	m := msgApp(t, s, 1, 65)
	defer s.ReleaseMessage(m)
	_ = mw.WriteMessage(m) // warm up buffers
	allocs := testing.AllocsPerRun(200, func() {
		if err := mw.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Fatalf("WriteMessage of 64 entries: %.1f allocations", allocs)
	}
	st := mw.Stats()
	if st.FramingBytes >= st.ReferenceBytes/50 {
		t.Fatalf("framing %d bytes for %d payload bytes", st.FramingBytes, st.ReferenceBytes)
	}
}

// FuzzUnmarshalMessage checks UnmarshalMessage against proto.Unmarshal on
// arbitrary input: same acceptance, equal messages.
func FuzzUnmarshalMessage(f *testing.F) {
	rng := newRand(5)
	for range 20 {
		m := randMessage(rng, 0)
		// Small seeds: the fuzzer minimizes every interesting input.
		for _, e := range m.Entries {
			e.Data = e.Data[:min(len(e.Data), 4)]
		}
		if m.Snapshot != nil {
			m.Snapshot.Data = m.Snapshot.Data[:min(len(m.Snapshot.Data), 4)]
		}
		m.Responses = m.Responses[:min(len(m.Responses), 1)]
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	f.Add([]byte{0x3a, 0x02, 0x08, 0x01})                         // entry with a type
	f.Add([]byte{0x4a, 0x04, 0x12, 0x02, 0x0a, 0x00})             // nested snapshot metadata
	f.Add([]byte{0x4a, 0x06, 0x12, 0x04, 0x0a, 0x02, 0x0a, 0x02}) // packed voters
	f.Fuzz(func(t *testing.T, b []byte) {
		var want pb.Message
		werr := proto.Unmarshal(b, &want)
		got, err := UnmarshalMessage(b)
		if (werr == nil) != (err == nil) {
			t.Fatalf("proto.Unmarshal: %v, UnmarshalMessage: %v", werr, err)
		}
		if err == nil && !proto.Equal(got, &want) {
			t.Fatalf("decoded %v, proto.Unmarshal %v", got, &want)
		}
	})
}
