package etcdwire

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/spoolhq/spool/internal/nettest"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

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

// TestWireMatchesProto checks Marshal, Size and Unmarshal against
// protobuf-go on random messages: identical bytes, identical size, equal
// decoded messages.
func TestWireMatchesProto(t *testing.T) {
	rng := newRand(7)
	for i := range 3000 {
		m := randMessage(rng, 0)
		want, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		got := Marshal(nil, m)
		if !bytes.Equal(got, want) {
			t.Fatalf("message %d: Marshal differs from proto.Marshal\n got %x\nwant %x", i, got, want)
		}
		if Size(m) != proto.Size(m) {
			t.Fatalf("message %d: Size %d, proto.Size %d", i, Size(m), proto.Size(m))
		}
		dec, err := Unmarshal(want)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !proto.Equal(dec, m) {
			t.Fatalf("message %d: decoded %v\nwant %v", i, dec, m)
		}
	}
}

// entsOf returns n entries from index from, of term term, with size bytes
// of data each.
func entsOf(from uint64, term uint64, n int, size int) []*pb.Entry {
	var ents []*pb.Entry
	for k := range n {
		d := bytes.Repeat([]byte{byte(from) + byte(k)}, size)
		ents = append(ents, &pb.Entry{Index: new(from + uint64(k)), Term: new(term), Data: d})
	}
	return ents
}

// msgApp builds a MsgApp carrying ents, which start at index lo.
func msgApp(ents []*pb.Entry, lo uint64) *pb.Message {
	return &pb.Message{Type: new(pb.MsgApp), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(3)),
		LogTerm: new(uint64(1)), Index: new(lo - 1), Commit: new(lo), Entries: ents}
}

// TestMessageReaderStream round-trips random messages through Writer and
// Reader over TCP.
func TestMessageReaderStream(t *testing.T) {
	client, server := nettest.Loopback(t)
	rng := newRand(11)
	var msgs []*pb.Message
	for range 500 {
		msgs = append(msgs, randMessage(rng, 0))
	}
	go func() {
		mw := NewWriter(client, nil)
		for i := 0; i < len(msgs); i += 7 {
			if err := mw.WriteMessages(msgs[i:min(i+7, len(msgs))]); err != nil {
				return
			}
		}
		client.(*net.TCPConn).CloseWrite()
	}()
	mr := NewReader(server)
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
	mr2 := NewReader(bytes.NewReader(binary.AppendUvarint(nil, 1<<40)))
	if _, err := mr2.ReadMessage(); err == nil {
		t.Fatal("oversized frame accepted")
	}
}

// releaseCounter counts the messages a Writer releases.
type releaseCounter struct{ n int }

func (r *releaseCounter) ReleaseMessage(*pb.Message) { r.n++ }

// TestWriteMessageAllocs checks that writing a MsgApp costs a constant
// number of allocations, not one per entry, copies no payload byte, and
// releases each message written.
func TestWriteMessageAllocs(t *testing.T) {
	client, server := nettest.Loopback(t)
	go io.Copy(io.Discard, server)
	rel := &releaseCounter{}
	mw := NewWriter(client, rel)
	m := msgApp(entsOf(1, 1, 64, 1024), 1)
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
	if int64(rel.n) != st.Messages {
		t.Fatalf("%d messages released, %d written", rel.n, st.Messages)
	}
}
