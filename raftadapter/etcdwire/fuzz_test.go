package etcdwire

import (
	"bytes"
	"errors"
	"io"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The decoders of untrusted bytes, each with its seed corpus in
// testdata/fuzz/FuzzXxx: Unmarshal (against protobuf-go) and Reader (the
// framing).

// FuzzUnmarshalMessage checks Unmarshal against proto.Unmarshal on
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
		got, err := Unmarshal(b)
		if (werr == nil) != (err == nil) {
			t.Fatalf("proto.Unmarshal: %v, Unmarshal: %v", werr, err)
		}
		if err == nil && !proto.Equal(got, &want) {
			t.Fatalf("decoded %v, proto.Unmarshal %v", got, &want)
		}
	})
}

// FuzzMessageReader reads an arbitrary stream as message frames: every
// frame either decodes to a message that re-encodes to a frame decoding to
// an equal message, or the stream ends with io.EOF, io.ErrUnexpectedEOF or
// an error wrapping ErrFormat.
func FuzzMessageReader(f *testing.F) {
	var wire bytes.Buffer
	w := NewWriter(&wire, nil)
	_ = w.WriteMessages([]*pb.Message{
		{Type: pb.MsgHeartbeat.Enum(), From: new(uint64(1)), To: new(uint64(2)), Term: new(uint64(3))},
		{Type: pb.MsgApp.Enum(), Entries: []*pb.Entry{{Index: new(uint64(1)), Term: new(uint64(1)), Data: []byte("x")}}},
	})
	f.Add(wire.Bytes())
	f.Add([]byte{})
	f.Add([]byte{0x80})                                     // cut length
	f.Add([]byte{0x05, 0x08})                               // cut frame
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}) // length over the limit
	f.Add([]byte{0x02, 0x3a, 0x05})                         // malformed message
	f.Fuzz(func(t *testing.T, b []byte) {
		mr := NewReader(bytes.NewReader(b))
		mr.MaxSize = 1 << 16
		for {
			m, err := mr.ReadMessage()
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrFormat) {
					t.Fatalf("untyped error %v", err)
				}
				return
			}
			again, err := Unmarshal(Marshal(nil, m))
			if err != nil || !proto.Equal(again, m) {
				t.Fatalf("re-encoded message decodes to %v, %v; want %v", again, err, m)
			}
		}
	})
}
