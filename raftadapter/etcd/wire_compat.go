package etcd

import (
	"io"

	"github.com/spoolhq/spool/raftadapter/etcdwire"
	pb "go.etcd.io/raft/v3/raftpb"
)

// The message stream codec moved to package etcdwire, which a transport
// can use without this package's storage; the names below keep code
// written against this package compiling.

// MessageWriter writes raft messages as frames (see etcdwire.Writer).
//
// Deprecated: use etcdwire.Writer.
type MessageWriter = etcdwire.Writer

// MessageReader reads frames written by a MessageWriter (see
// etcdwire.Reader).
//
// Deprecated: use etcdwire.Reader.
type MessageReader = etcdwire.Reader

// WriterStats counts what a MessageWriter wrote.
//
// Deprecated: use etcdwire.WriterStats.
type WriterStats = etcdwire.WriterStats

// DefaultMaxMessageSize bounds the frames a MessageReader accepts.
//
// Deprecated: use etcdwire.DefaultMaxSize.
const DefaultMaxMessageSize = etcdwire.DefaultMaxSize

// ErrMessageFormat reports a frame that is not a valid raft message. It
// is etcdwire.ErrFormat itself, so errors.Is matches either name.
//
// Deprecated: use etcdwire.ErrFormat.
var ErrMessageFormat = etcdwire.ErrFormat

// NewMessageWriter returns a writer to w that releases the zero-copy
// entries of s (if s is not nil) of each message it writes.
//
// Deprecated: use etcdwire.NewWriter(w, s), or etcdwire.NewWriter(w, nil)
// without a Storage.
func NewMessageWriter(w io.Writer, s *Storage) *MessageWriter {
	if s == nil {
		return etcdwire.NewWriter(w, nil) // not a nil *Storage in the interface
	}
	return etcdwire.NewWriter(w, s)
}

// NewMessageReader returns a reader of frames from r.
//
// Deprecated: use etcdwire.NewReader.
func NewMessageReader(r io.Reader) *MessageReader { return etcdwire.NewReader(r) }

// MessageSize returns the length of m's protobuf encoding (proto.Size).
//
// Deprecated: use etcdwire.Size.
func MessageSize(m *pb.Message) int { return etcdwire.Size(m) }

// MarshalMessage appends m's protobuf encoding to dst.
//
// Deprecated: use etcdwire.Marshal.
func MarshalMessage(dst []byte, m *pb.Message) []byte { return etcdwire.Marshal(dst, m) }

// UnmarshalMessage decodes b, with bytes fields aliasing b.
//
// Deprecated: use etcdwire.Unmarshal.
func UnmarshalMessage(b []byte) (*pb.Message, error) { return etcdwire.Unmarshal(b) }
