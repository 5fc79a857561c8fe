package etcdwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	pb "go.etcd.io/raft/v3/raftpb"
)

// readerBufferSize is the read-ahead buffer of a Reader: large enough for
// a system call to fetch hundreds of small messages, small enough that a
// large frame is mostly read in place.
const readerBufferSize = 16 << 10

// DefaultMaxSize bounds the frames a Reader accepts.
const DefaultMaxSize = 1 << 30

// ErrFormat reports a frame that is not a valid raft message.
var ErrFormat = errors.New("etcdwire: malformed raft message")

// Releaser is told when a Writer no longer needs the payloads of a
// message it wrote (or failed to write). *etcd.Storage is one: it unpins
// the zero-copy entries the message carries.
type Releaser interface {
	ReleaseMessage(m *pb.Message)
}

// Writer writes messages to a stream as frames — a uvarint length, then
// the message's protobuf encoding, byte for byte what proto.Marshal
// produces — with one vectored write per call (writev; the runtime issues
// one system call per 1024 pieces, so a message of more than about 500
// entries takes several): the framing bytes (tags, lengths, scalar
// fields) are encoded into a reused buffer, and entry and snapshot
// payloads are handed to the kernel where they lie — for zero-copy
// entries of raftadapter/etcd, in the journal's mapped pages. No payload
// byte is copied in user space when w is a *net.TCPConn or *net.UnixConn
// (writev); other writers receive the pieces in order.
//
// After the write returns, successfully or not, the written messages are
// passed to the Releaser, if one was given. A Writer is not safe for
// concurrent use.
type Writer struct {
	w     io.Writer
	rel   Releaser
	enc   encoder
	bufs  net.Buffers
	back  [][]byte
	one   [1]*pb.Message
	stats WriterStats
}

// WriterStats counts what a Writer wrote: framing bytes it encoded
// (copied) and payload bytes it passed by reference (not copied).
type WriterStats struct {
	Messages       int64 // messages written (frames)
	FramingBytes   int64 // encoded into the writer's buffer
	ReferenceBytes int64 // written from the caller's slices without a copy
}

// NewWriter returns a Writer writing to w. rel, if not nil, is told of
// each message once written: pass the *etcd.Storage whose zero-copy
// entries the messages carry (never a nil *etcd.Storage: pass nil).
func NewWriter(w io.Writer, rel Releaser) *Writer {
	return &Writer{w: w, rel: rel}
}

// Stats returns the writer's counters.
func (mw *Writer) Stats() WriterStats { return mw.stats }

// WriteMessage writes one message frame and then releases m.
func (mw *Writer) WriteMessage(m *pb.Message) error {
	mw.one[0] = m
	err := mw.WriteMessages(mw.one[:])
	mw.one[0] = nil
	return err
}

// WriteMessages writes one frame per message in a single vectored write
// (see Writer), then releases the messages.
func (mw *Writer) WriteMessages(ms []*pb.Message) error {
	if mw.rel != nil {
		defer func() {
			for _, m := range ms {
				mw.rel.ReleaseMessage(m)
			}
		}()
	}
	c := &mw.enc
	c.buf, c.holes = c.buf[:0], c.holes[:0]
	for _, m := range ms {
		c.buf = binary.AppendUvarint(c.buf, uint64(Size(m)))
		if m != nil {
			messageTable.encode(c, m)
		}
	}
	bufs := mw.back[:0]
	prev := 0
	var ref int64
	for _, h := range c.holes {
		if h.at > prev {
			bufs = append(bufs, c.buf[prev:h.at])
		}
		bufs = append(bufs, h.p)
		ref += int64(len(h.p))
		prev = h.at
	}
	if prev < len(c.buf) {
		bufs = append(bufs, c.buf[prev:])
	}
	mw.back = bufs
	mw.bufs = bufs
	_, err := mw.bufs.WriteTo(mw.w)
	clear(c.holes) // drop references to payloads
	mw.stats.Messages += int64(len(ms))
	mw.stats.FramingBytes += int64(len(c.buf))
	mw.stats.ReferenceBytes += ref
	return err
}

// Reader reads message frames written by a Writer (or any writer of the
// same framing) and decodes them for Node.Step. Each message's bytes are
// read into one buffer of their own, and the decoded entries' Data (and
// the snapshot's and Context) alias that buffer: no copy beyond the read
// itself. The buffer belongs to the message; raft may keep the entries as
// long as it likes.
//
// The reader buffers reads of small frames (heartbeats, responses) so that
// one system call serves many of them; of a larger frame, at most the
// first 16 KiB pass through that buffer and the rest is read from the
// connection straight into the message's buffer (see ReadMessage for
// frames over 4 MiB). When a follower's raftadapter/etcd Storage appends
// the entries (SaveReady), their Data is copied once more, from that
// buffer into the journal's mapped segment: one user-space copy of each
// payload byte on the receiving side, with no intermediate buffer.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	r *bufio.Reader
	// MaxSize bounds a frame's length; 0 means DefaultMaxSize.
	MaxSize int
}

// NewReader returns a Reader reading from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, readerBufferSize)}
}

// ReadMessage reads and decodes the next frame. It returns io.EOF at a
// clean end of the stream, io.ErrUnexpectedEOF for a stream that ends
// inside a frame, and an error wrapping ErrFormat for a frame that is
// malformed or longer than MaxSize.
//
// A frame's length comes from the peer, so memory is committed as its
// bytes arrive: a frame of up to 4 MiB (a MsgApp under any usual
// Config.MaxSizePerMsg) is read into a buffer of its exact size; a longer
// one (a MsgSnap carrying its data) into a buffer that doubles as the
// bytes arrive, at the cost of one more copy of what was already read, so
// that a length that the stream does not back costs no more than twice
// the bytes actually received.
func (mr *Reader) ReadMessage() (*pb.Message, error) {
	n, err := binary.ReadUvarint(mr.r)
	if err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("%w: frame length: %w", ErrFormat, err)
	}
	limit := mr.MaxSize
	if limit <= 0 {
		limit = DefaultMaxSize
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("%w: frame of %d bytes exceeds %d", ErrFormat, n, limit)
	}
	buf, err := readFrame(mr.r, int(n))
	if err != nil {
		return nil, err
	}
	return Unmarshal(buf)
}

// exactFrame is the largest frame read into a buffer allocated at once.
const exactFrame = 4 << 20

// readFrame reads n bytes from r; see ReadMessage for the allocation.
func readFrame(r io.Reader, n int) ([]byte, error) {
	var buf []byte
	if n <= exactFrame {
		buf = make([]byte, n)
	} else {
		buf = make([]byte, exactFrame)
	}
	got := 0
	for {
		k, err := io.ReadFull(r, buf[got:])
		got += k
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if got == n {
			return buf, nil
		}
		next := make([]byte, min(2*len(buf), n))
		copy(next, buf)
		buf = next
	}
}
