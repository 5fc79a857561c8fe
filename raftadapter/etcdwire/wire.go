package etcdwire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
)

// Wire format of a message stream (Writer, Reader): each
// message is a frame
//
//	uvarint length | raftpb.Message in protobuf encoding (length bytes)
//
// The message bytes are exactly what proto.Marshal produces for the same
// message (fields in number order, unknown fields last), so a peer can
// decode them with proto.Unmarshal, and Marshal/Unmarshal
// interoperate with any protobuf implementation.

// Protobuf field numbers of raft.proto.
const (
	fEntryType  = 1
	fEntryTerm  = 2
	fEntryIndex = 3
	fEntryData  = 4

	fSnapData = 1
	fSnapMeta = 2

	fMetaConfState = 1
	fMetaIndex     = 2
	fMetaTerm      = 3

	fCSVoters         = 1
	fCSLearners       = 2
	fCSVotersOutgoing = 3
	fCSLearnersNext   = 4
	fCSAutoLeave      = 5

	fMsgType       = 1
	fMsgTo         = 2
	fMsgFrom       = 3
	fMsgTerm       = 4
	fMsgLogTerm    = 5
	fMsgIndex      = 6
	fMsgEntries    = 7
	fMsgCommit     = 8
	fMsgSnapshot   = 9
	fMsgReject     = 10
	fMsgRejectHint = 11
	fMsgContext    = 12
	fMsgVote       = 13
	fMsgResponses  = 14
)

// readerBufferSize is the read-ahead buffer of a Reader: large
// enough for a system call to fetch hundreds of small messages, small
// enough that a large frame is mostly read in place.
const readerBufferSize = 16 << 10

// DefaultMaxSize bounds the frames a Reader accepts.
const DefaultMaxSize = 1 << 30

// maxDepth bounds the nesting of Responses a decoder follows.
const maxDepth = 64

// ErrFormat reports a frame that is not a valid raft message.
var ErrFormat = errors.New("etcdwire: malformed raft message")

// Releaser is told when a Writer no longer needs the payloads of a
// message it wrote (or failed to write). *etcd.Storage is one: it unpins
// the zero-copy entries the message carries.
type Releaser interface {
	ReleaseMessage(m *pb.Message)
}

type entryScalars struct {
	term, index uint64
	typ         pb.EntryType
}

// ---- sizes ----

func sizeTagged(num protowire.Number, v uint64) int {
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func sizeOptU64(num protowire.Number, p *uint64) int {
	if p == nil {
		return 0
	}
	return sizeTagged(num, *p)
}

func sizeLen(num protowire.Number, n int) int {
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func sizeEntry(e *pb.Entry) int {
	if e == nil {
		return 0
	}
	n := 0
	if e.Type != nil {
		n += sizeTagged(fEntryType, uint64(int64(*e.Type)))
	}
	n += sizeOptU64(fEntryTerm, e.Term)
	n += sizeOptU64(fEntryIndex, e.Index)
	if e.Data != nil {
		n += sizeLen(fEntryData, len(e.Data))
	}
	return n + len(e.ProtoReflect().GetUnknown())
}

func sizeConfState(c *pb.ConfState) int {
	if c == nil {
		return 0
	}
	n := 0
	for _, l := range [...][]uint64{c.Voters, c.Learners, c.VotersOutgoing, c.LearnersNext} {
		for _, v := range l {
			n += 1 + protowire.SizeVarint(v)
		}
	}
	if c.AutoLeave != nil {
		n += 2
	}
	return n + len(c.ProtoReflect().GetUnknown())
}

func sizeSnapMeta(m *pb.SnapshotMetadata) int {
	if m == nil {
		return 0
	}
	n := 0
	if m.ConfState != nil {
		n += sizeLen(fMetaConfState, sizeConfState(m.ConfState))
	}
	n += sizeOptU64(fMetaIndex, m.Index)
	n += sizeOptU64(fMetaTerm, m.Term)
	return n + len(m.ProtoReflect().GetUnknown())
}

func sizeSnapshot(s *pb.Snapshot) int {
	if s == nil {
		return 0
	}
	n := 0
	if s.Data != nil {
		n += sizeLen(fSnapData, len(s.Data))
	}
	if s.Metadata != nil {
		n += sizeLen(fSnapMeta, sizeSnapMeta(s.Metadata))
	}
	return n + len(s.ProtoReflect().GetUnknown())
}

// Size returns the length of m's protobuf encoding (proto.Size).
func Size(m *pb.Message) int {
	if m == nil {
		return 0
	}
	n := 0
	if m.Type != nil {
		n += sizeTagged(fMsgType, uint64(int64(*m.Type)))
	}
	n += sizeOptU64(fMsgTo, m.To)
	n += sizeOptU64(fMsgFrom, m.From)
	n += sizeOptU64(fMsgTerm, m.Term)
	n += sizeOptU64(fMsgLogTerm, m.LogTerm)
	n += sizeOptU64(fMsgIndex, m.Index)
	for _, e := range m.Entries {
		n += sizeLen(fMsgEntries, sizeEntry(e))
	}
	n += sizeOptU64(fMsgCommit, m.Commit)
	if m.Snapshot != nil {
		n += sizeLen(fMsgSnapshot, sizeSnapshot(m.Snapshot))
	}
	if m.Reject != nil {
		n += 2
	}
	n += sizeOptU64(fMsgRejectHint, m.RejectHint)
	if m.Context != nil {
		n += sizeLen(fMsgContext, len(m.Context))
	}
	n += sizeOptU64(fMsgVote, m.Vote)
	for _, r := range m.Responses {
		n += sizeLen(fMsgResponses, Size(r))
	}
	return n + len(m.ProtoReflect().GetUnknown())
}

// ---- encoding ----

// encoder appends the framing of a message to buf and, unless inline,
// records payloads (entry and snapshot data) as holes to be written by
// reference.
type encoder struct {
	buf    []byte
	holes  []hole
	inline bool
}

type hole struct {
	at int // position in buf before which p goes
	p  []byte
}

func (c *encoder) payload(p []byte) {
	if c.inline || len(p) == 0 {
		c.buf = append(c.buf, p...)
		return
	}
	c.holes = append(c.holes, hole{at: len(c.buf), p: p})
}

func (c *encoder) u64(num protowire.Number, v uint64) {
	c.buf = protowire.AppendVarint(protowire.AppendTag(c.buf, num, protowire.VarintType), v)
}

func (c *encoder) optU64(num protowire.Number, p *uint64) {
	if p != nil {
		c.u64(num, *p)
	}
}

func (c *encoder) bool(num protowire.Number, p *bool) {
	if p != nil {
		c.u64(num, protowire.EncodeBool(*p))
	}
}

func (c *encoder) lenPrefix(num protowire.Number, n int) {
	c.buf = protowire.AppendVarint(protowire.AppendTag(c.buf, num, protowire.BytesType), uint64(n))
}

func (c *encoder) entry(e *pb.Entry) {
	if e == nil {
		return
	}
	if e.Type != nil {
		c.u64(fEntryType, uint64(int64(*e.Type)))
	}
	c.optU64(fEntryTerm, e.Term)
	c.optU64(fEntryIndex, e.Index)
	if e.Data != nil {
		c.lenPrefix(fEntryData, len(e.Data))
		c.payload(e.Data)
	}
	c.buf = append(c.buf, e.ProtoReflect().GetUnknown()...)
}

func (c *encoder) confState(cs *pb.ConfState) {
	for i, l := range [...][]uint64{cs.Voters, cs.Learners, cs.VotersOutgoing, cs.LearnersNext} {
		for _, v := range l {
			c.u64(protowire.Number(i+1), v)
		}
	}
	c.bool(fCSAutoLeave, cs.AutoLeave)
	c.buf = append(c.buf, cs.ProtoReflect().GetUnknown()...)
}

func (c *encoder) snapshot(s *pb.Snapshot) {
	if s.Data != nil {
		c.lenPrefix(fSnapData, len(s.Data))
		c.payload(s.Data)
	}
	if m := s.Metadata; m != nil {
		c.lenPrefix(fSnapMeta, sizeSnapMeta(m))
		if m.ConfState != nil {
			c.lenPrefix(fMetaConfState, sizeConfState(m.ConfState))
			c.confState(m.ConfState)
		}
		c.optU64(fMetaIndex, m.Index)
		c.optU64(fMetaTerm, m.Term)
		c.buf = append(c.buf, m.ProtoReflect().GetUnknown()...)
	}
	c.buf = append(c.buf, s.ProtoReflect().GetUnknown()...)
}

func (c *encoder) message(m *pb.Message) {
	if m.Type != nil {
		c.u64(fMsgType, uint64(int64(*m.Type)))
	}
	c.optU64(fMsgTo, m.To)
	c.optU64(fMsgFrom, m.From)
	c.optU64(fMsgTerm, m.Term)
	c.optU64(fMsgLogTerm, m.LogTerm)
	c.optU64(fMsgIndex, m.Index)
	for _, e := range m.Entries {
		c.lenPrefix(fMsgEntries, sizeEntry(e))
		c.entry(e)
	}
	c.optU64(fMsgCommit, m.Commit)
	if m.Snapshot != nil {
		c.lenPrefix(fMsgSnapshot, sizeSnapshot(m.Snapshot))
		c.snapshot(m.Snapshot)
	}
	c.bool(fMsgReject, m.Reject)
	c.optU64(fMsgRejectHint, m.RejectHint)
	if m.Context != nil {
		c.lenPrefix(fMsgContext, len(m.Context))
		c.buf = append(c.buf, m.Context...)
	}
	c.optU64(fMsgVote, m.Vote)
	for _, r := range m.Responses {
		c.lenPrefix(fMsgResponses, Size(r))
		if r != nil {
			c.message(r)
		}
	}
	c.buf = append(c.buf, m.ProtoReflect().GetUnknown()...)
}

// Marshal appends m's protobuf encoding to dst: the bytes proto.Marshal
// returns, produced without reflection.
func Marshal(dst []byte, m *pb.Message) []byte {
	c := encoder{buf: dst, inline: true}
	if m != nil {
		c.message(m)
	}
	return c.buf
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
// entries the messages carry (a nil *etcd.Storage is not a nil rel).
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
			c.message(m)
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

// ---- decoding ----

// Reader reads message frames written by a Writer (or any
// writer of the same framing) and decodes them for Node.Step. Each
// message's bytes are read into one buffer of their own, and the decoded
// entries' Data (and the snapshot's and Context) alias that buffer: no
// copy beyond the read itself. The buffer belongs to the message; raft
// may keep the entries as long as it likes.
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
// inside a frame, and an error wrapping ErrFormat for a frame that
// is malformed or longer than MaxSize.
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

// Unmarshal decodes b like proto.Unmarshal, except that bytes
// fields (entry and snapshot data, context) alias b instead of being
// copied, and that entries and scalar fields are allocated in a few
// blocks. b must not be modified while the message is in use.
func Unmarshal(b []byte) (*pb.Message, error) {
	m := new(pb.Message)
	if err := decodeMessage(m, b, 0); err != nil {
		return nil, err
	}
	return m, nil
}

type msgScalars struct {
	typ                                                      pb.MessageType
	to, from, term, logTerm, index, commit, vote, rejectHint uint64
	reject                                                   bool
}

var errDecode = fmt.Errorf("%w: invalid protobuf encoding", ErrFormat)

// field reads the next tag; it returns ok false with an error for an
// invalid one.
func nextTag(b []byte) (protowire.Number, protowire.Type, int, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num > protowire.MaxValidNumber || typ == protowire.EndGroupType {
		return 0, 0, 0, errDecode
	}
	return num, typ, n, nil
}

// skip consumes an unknown field's value and appends the field to unk.
func skip(unk []byte, num protowire.Number, typ protowire.Type, b []byte) ([]byte, int, error) {
	n := protowire.ConsumeFieldValue(num, typ, b)
	if n < 0 {
		return unk, 0, errDecode
	}
	unk = protowire.AppendTag(unk, num, typ)
	return append(unk, b[:n]...), n, nil
}

func varint(b []byte) (uint64, int, error) {
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, 0, errDecode
	}
	return v, n, nil
}

func lenDelim(b []byte) ([]byte, int, error) {
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return nil, 0, errDecode
	}
	return v[:len(v):len(v)], n, nil
}

// countEntries counts the entries field occurrences of a message encoding.
func countEntries(b []byte) int {
	count := 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return count
		}
		b = b[n:]
		if num == fMsgEntries && typ == protowire.BytesType {
			count++
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return count
		}
		b = b[n:]
	}
	return count
}

func decodeMessage(m *pb.Message, b []byte, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: responses nested deeper than %d", ErrFormat, maxDepth)
	}
	sc := new(msgScalars)
	var (
		ents  []pb.Entry
		esc   []entryScalars
		nent  int
		unk   []byte
		u64At = func(num protowire.Number) *uint64 {
			switch num {
			case fMsgTo:
				return &sc.to
			case fMsgFrom:
				return &sc.from
			case fMsgTerm:
				return &sc.term
			case fMsgLogTerm:
				return &sc.logTerm
			case fMsgIndex:
				return &sc.index
			case fMsgCommit:
				return &sc.commit
			case fMsgVote:
				return &sc.vote
			case fMsgRejectHint:
				return &sc.rejectHint
			}
			return nil
		}
	)
	if c := countEntries(b); c > 0 {
		ents = make([]pb.Entry, c)
		esc = make([]entryScalars, c)
		m.Entries = make([]*pb.Entry, 0, c)
	}
	for len(b) > 0 {
		num, typ, n, err := nextTag(b)
		if err != nil {
			return err
		}
		b = b[n:]
		known := true
		switch {
		case num == fMsgType && typ == protowire.VarintType:
			v, n, err := varint(b)
			if err != nil {
				return err
			}
			sc.typ = pb.MessageType(int32(v))
			m.Type = &sc.typ
			b = b[n:]
		case num == fMsgReject && typ == protowire.VarintType:
			v, n, err := varint(b)
			if err != nil {
				return err
			}
			sc.reject = protowire.DecodeBool(v)
			m.Reject = &sc.reject
			b = b[n:]
		case typ == protowire.VarintType && u64At(num) != nil:
			v, n, err := varint(b)
			if err != nil {
				return err
			}
			p := u64At(num)
			*p = v
			setMsgU64(m, num, p)
			b = b[n:]
		case num == fMsgEntries && typ == protowire.BytesType:
			v, n, err := lenDelim(b)
			if err != nil {
				return err
			}
			var e *pb.Entry
			var es *entryScalars
			if nent < len(ents) {
				e, es = &ents[nent], &esc[nent]
			} else {
				e, es = new(pb.Entry), new(entryScalars)
			}
			nent++
			if err := decodeEntry(e, es, v); err != nil {
				return err
			}
			m.Entries = append(m.Entries, e)
			b = b[n:]
		case num == fMsgSnapshot && typ == protowire.BytesType:
			v, n, err := lenDelim(b)
			if err != nil {
				return err
			}
			if m.Snapshot == nil {
				m.Snapshot = new(pb.Snapshot)
			}
			if err := decodeSnapshot(m.Snapshot, v); err != nil {
				return err
			}
			b = b[n:]
		case num == fMsgContext && typ == protowire.BytesType:
			v, n, err := lenDelim(b)
			if err != nil {
				return err
			}
			m.Context = v
			b = b[n:]
		case num == fMsgResponses && typ == protowire.BytesType:
			v, n, err := lenDelim(b)
			if err != nil {
				return err
			}
			r := new(pb.Message)
			if err := decodeMessage(r, v, depth+1); err != nil {
				return err
			}
			m.Responses = append(m.Responses, r)
			b = b[n:]
		default:
			known = false
		}
		if !known {
			var n int
			if unk, n, err = skip(unk, num, typ, b); err != nil {
				return err
			}
			b = b[n:]
		}
	}
	if unk != nil {
		m.ProtoReflect().SetUnknown(unk)
	}
	return nil
}

func setMsgU64(m *pb.Message, num protowire.Number, p *uint64) {
	switch num {
	case fMsgTo:
		m.To = p
	case fMsgFrom:
		m.From = p
	case fMsgTerm:
		m.Term = p
	case fMsgLogTerm:
		m.LogTerm = p
	case fMsgIndex:
		m.Index = p
	case fMsgCommit:
		m.Commit = p
	case fMsgVote:
		m.Vote = p
	case fMsgRejectHint:
		m.RejectHint = p
	}
}

func decodeEntry(e *pb.Entry, sc *entryScalars, b []byte) error {
	var unk []byte
	for len(b) > 0 {
		num, typ, n, err := nextTag(b)
		if err != nil {
			return err
		}
		b = b[n:]
		switch {
		case typ == protowire.VarintType && num >= fEntryType && num <= fEntryIndex:
			v, n, err := varint(b)
			if err != nil {
				return err
			}
			switch num {
			case fEntryType:
				sc.typ = pb.EntryType(int32(v))
				e.Type = &sc.typ
			case fEntryTerm:
				sc.term = v
				e.Term = &sc.term
			case fEntryIndex:
				sc.index = v
				e.Index = &sc.index
			}
			b = b[n:]
		case num == fEntryData && typ == protowire.BytesType:
			v, n, err := lenDelim(b)
			if err != nil {
				return err
			}
			e.Data = v
			b = b[n:]
		default:
			if unk, n, err = skip(unk, num, typ, b); err != nil {
				return err
			}
			b = b[n:]
		}
	}
	if unk != nil {
		e.ProtoReflect().SetUnknown(unk)
	}
	return nil
}

func decodeSnapshot(s *pb.Snapshot, b []byte) error {
	unk := s.ProtoReflect().GetUnknown()
	for len(b) > 0 {
		num, typ, n, err := nextTag(b)
		if err != nil {
			return err
		}
		b = b[n:]
		switch {
		case num == fSnapData && typ == protowire.BytesType:
			v, n, err := lenDelim(b)
			if err != nil {
				return err
			}
			s.Data = v
			b = b[n:]
		case num == fSnapMeta && typ == protowire.BytesType:
			v, n, err := lenDelim(b)
			if err != nil {
				return err
			}
			if s.Metadata == nil {
				s.Metadata = new(pb.SnapshotMetadata)
			}
			if err := decodeSnapMeta(s.Metadata, v); err != nil {
				return err
			}
			b = b[n:]
		default:
			if unk, n, err = skip(unk, num, typ, b); err != nil {
				return err
			}
			b = b[n:]
		}
	}
	if unk != nil {
		s.ProtoReflect().SetUnknown(unk)
	}
	return nil
}

func decodeSnapMeta(m *pb.SnapshotMetadata, b []byte) error {
	unk := m.ProtoReflect().GetUnknown()
	for len(b) > 0 {
		num, typ, n, err := nextTag(b)
		if err != nil {
			return err
		}
		b = b[n:]
		switch {
		case num == fMetaConfState && typ == protowire.BytesType:
			v, n, err := lenDelim(b)
			if err != nil {
				return err
			}
			if m.ConfState == nil {
				m.ConfState = new(pb.ConfState)
			}
			if err := decodeConfState(m.ConfState, v); err != nil {
				return err
			}
			b = b[n:]
		case (num == fMetaIndex || num == fMetaTerm) && typ == protowire.VarintType:
			v, n, err := varint(b)
			if err != nil {
				return err
			}
			if num == fMetaIndex {
				m.Index = new(v)
			} else {
				m.Term = new(v)
			}
			b = b[n:]
		default:
			if unk, n, err = skip(unk, num, typ, b); err != nil {
				return err
			}
			b = b[n:]
		}
	}
	if unk != nil {
		m.ProtoReflect().SetUnknown(unk)
	}
	return nil
}

func decodeConfState(c *pb.ConfState, b []byte) error {
	unk := c.ProtoReflect().GetUnknown()
	lists := [...]*[]uint64{&c.Voters, &c.Learners, &c.VotersOutgoing, &c.LearnersNext}
	for len(b) > 0 {
		num, typ, n, err := nextTag(b)
		if err != nil {
			return err
		}
		b = b[n:]
		switch {
		case num >= fCSVoters && num <= fCSLearnersNext && typ == protowire.VarintType:
			v, n, err := varint(b)
			if err != nil {
				return err
			}
			l := lists[num-1]
			*l = append(*l, v)
			b = b[n:]
		case num >= fCSVoters && num <= fCSLearnersNext && typ == protowire.BytesType:
			// Packed encoding: accepted like any protobuf parser does.
			v, n, err := lenDelim(b)
			if err != nil {
				return err
			}
			l := lists[num-1]
			for len(v) > 0 {
				x, k, err := varint(v)
				if err != nil {
					return err
				}
				*l = append(*l, x)
				v = v[k:]
			}
			b = b[n:]
		case num == fCSAutoLeave && typ == protowire.VarintType:
			v, n, err := varint(b)
			if err != nil {
				return err
			}
			c.AutoLeave = new(protowire.DecodeBool(v))
			b = b[n:]
		default:
			if unk, n, err = skip(unk, num, typ, b); err != nil {
				return err
			}
			b = b[n:]
		}
	}
	if unk != nil {
		c.ProtoReflect().SetUnknown(unk)
	}
	return nil
}
