package etcdwire_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"

	"github.com/spoolhq/spool/raftadapter/etcdwire"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A Writer sends raft messages as frames; a Reader on the other end of the
// connection decodes them for Node.Step. Here the connection is a buffer.
// With raftadapter/etcd, pass the Storage as the Releaser
// (etcdwire.NewWriter(conn, st)) so that the zero-copy entries a message
// carries are released once it is written.
func ExampleWriter() {
	var conn bytes.Buffer
	w := etcdwire.NewWriter(&conn, nil)
	err := w.WriteMessages([]*pb.Message{
		{Type: pb.MsgHeartbeat.Enum(), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(3))},
		{Type: pb.MsgApp.Enum(), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(3)),
			Entries: []*pb.Entry{{Index: new(uint64(7)), Term: new(uint64(3)), Data: []byte("x=1")}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	st := w.Stats()
	fmt.Printf("%d messages, %d payload bytes by reference\n", st.Messages, st.ReferenceBytes)

	r := etcdwire.NewReader(&conn)
	for {
		m, err := r.ReadMessage()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err) // wraps etcdwire.ErrFormat for a malformed frame
		}
		fmt.Println(m.GetType(), len(m.Entries))
	}
	// Output:
	// 2 messages, 3 payload bytes by reference
	// MsgHeartbeat 0
	// MsgApp 1
}

// Marshal produces proto.Marshal's bytes; Unmarshal decodes exactly what
// proto.Unmarshal accepts, with bytes fields aliasing its input.
func ExampleUnmarshal() {
	m := &pb.Message{Type: pb.MsgApp.Enum(), Entries: []*pb.Entry{{Index: new(uint64(1)), Data: []byte("cmd")}}}
	b := etcdwire.Marshal(nil, m)
	want, _ := proto.Marshal(m)
	fmt.Println(bytes.Equal(b, want), etcdwire.Size(m) == len(b))

	got, err := etcdwire.Unmarshal(b)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(proto.Equal(got, m), string(got.Entries[0].Data))

	_, err = etcdwire.Unmarshal([]byte{0x3a, 0x05, 0x01}) // an entry cut short
	fmt.Println(errors.Is(err, etcdwire.ErrFormat))
	// Output:
	// true true
	// true cmd
	// true
}
