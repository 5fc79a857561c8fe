package etcdwire_test

import (
	"bytes"
	"io"
	"testing"

	"github.com/spoolhq/spool/raftadapter/etcdwire"
	pb "go.etcd.io/raft/v3/raftpb"
)

// The codec's own cost, without a socket or a storage (BenchmarkSendMsgApp
// in raftadapter/etcd measures the send path from the journal to a TCP
// connection): a heartbeat, MsgApps of 64 entries of 1 KiB and of 512
// entries of 100 bytes, and a MsgSnap with 4 KiB of data and a ConfState.

func benchMsgApp(n, size int) *pb.Message {
	m := &pb.Message{Type: pb.MsgApp.Enum(), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(3)),
		LogTerm: new(uint64(3)), Index: new(uint64(1000)), Commit: new(uint64(1000))}
	for i := range n {
		m.Entries = append(m.Entries, &pb.Entry{Type: pb.EntryNormal.Enum(), Term: new(uint64(3)), Index: new(uint64(1001 + i)), Data: bytes.Repeat([]byte{byte(i)}, size)})
	}
	return m
}

type benchCase struct {
	name string
	m    *pb.Message
}

func benchMessages() []benchCase {
	return []benchCase{
		{"heartbeat", &pb.Message{Type: pb.MsgHeartbeat.Enum(), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(3)), Commit: new(uint64(1000))}},
		{"msgapp-64x1KiB", benchMsgApp(64, 1<<10)},
		{"msgapp-512x100B", benchMsgApp(512, 100)},
		{"snap", &pb.Message{Type: pb.MsgSnap.Enum(), Snapshot: &pb.Snapshot{Data: make([]byte, 4096), Metadata: &pb.SnapshotMetadata{Index: new(uint64(9)), Term: new(uint64(2)),
			ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}, AutoLeave: new(false)}}}}},
	}
}

func BenchmarkWireMarshal(b *testing.B) {
	for _, c := range benchMessages() {
		b.Run(c.name, func(b *testing.B) {
			buf := etcdwire.Marshal(nil, c.m)
			b.ReportAllocs()
			for b.Loop() {
				buf = etcdwire.Marshal(buf[:0], c.m)
			}
		})
	}
}

func BenchmarkWireSize(b *testing.B) {
	for _, c := range benchMessages() {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = etcdwire.Size(c.m)
			}
		})
	}
}

func BenchmarkWireUnmarshal(b *testing.B) {
	for _, c := range benchMessages() {
		b.Run(c.name, func(b *testing.B) {
			frame := etcdwire.Marshal(nil, c.m)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := etcdwire.Unmarshal(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkWireWriter writes to io.Discard, which takes the pieces one
// Write at a time (a socket would take them in one writev).
func BenchmarkWireWriter(b *testing.B) {
	for _, c := range benchMessages() {
		b.Run(c.name, func(b *testing.B) {
			w := etcdwire.NewWriter(io.Discard, nil)
			b.ReportAllocs()
			for b.Loop() {
				if err := w.WriteMessage(c.m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWireReader(b *testing.B) {
	for _, c := range benchMessages() {
		b.Run(c.name, func(b *testing.B) {
			var wire bytes.Buffer
			w := etcdwire.NewWriter(&wire, nil)
			for range 64 {
				_ = w.WriteMessage(c.m)
			}
			stream := wire.Bytes()
			b.SetBytes(int64(len(stream) / 64))
			b.ReportAllocs()
			rd := bytes.NewReader(stream)
			r := etcdwire.NewReader(rd)
			k := 0
			for b.Loop() {
				if k == 64 {
					rd.Reset(stream)
					r = etcdwire.NewReader(rd)
					k = 0
				}
				if _, err := r.ReadMessage(); err != nil {
					b.Fatal(err)
				}
				k++
			}
		})
	}
}
