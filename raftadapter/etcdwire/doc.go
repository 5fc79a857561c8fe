// Package etcdwire is spool's message stream for go.etcd.io/raft/v3 (v3.7,
// pointer protobuf types): a codec of raftpb.Message that writes exactly
// proto.Marshal's bytes without reflection and decodes exactly what
// proto.Unmarshal accepts without copying bytes fields, and a framing of
// those messages on a byte stream (a TCP connection between peers).
//
// It needs no storage: a transport can use it with any raft.Storage. With
// raftadapter/etcd's Storage in zero-copy mode, a Writer made with that
// Storage (NewWriter(conn, st)) sends entry payloads straight from the
// journal's mapped pages and releases their pins once written.
//
// # Framing
//
// A stream is a sequence of frames, one per message, with nothing before,
// between or after them:
//
//	+----------------+---------------------------------------------+
//	| uvarint length | raftpb.Message in protobuf encoding         |
//	| (1-10 bytes)   | (length bytes, at most Reader.MaxSize)      |
//	+----------------+---------------------------------------------+
//
// The message bytes are exactly what proto.Marshal produces for the same
// message (fields in number order, unknown fields last), so a peer can
// decode them with proto.Unmarshal, and Marshal/Unmarshal interoperate
// with any protobuf implementation. A Writer encodes everything but the
// payloads (entry Data, snapshot data) into its buffer and hands the
// kernel one vector of pieces; a MsgApp's frame, for example (tags are one
// byte, field number << 3 | wire type):
//
//	+--------+-------------------+------------+-----------------------+--------+------------+-----+
//	| length | 0x08 type 0x10 to | 0x3a len   | 0x08 type 0x10 term   | Data   | 0x3a len   | ... |
//	|        | ... 0x30 index    | (entry 1)  | 0x18 index 0x22 len   |        | (entry 2)  |     |
//	+--------+-------------------+------------+-----------------------+--------+------------+-----+
//	|<-------------------- the Writer's buffer ---------------------->|<by ref>|<---- buffer ---->|
//
// followed by the fields numbered after entries (commit, reject, ...).
//
// # Field tables
//
// The codec is driven by one table per message type of raft.proto
// (fields.go): each row declares a field's number, what it holds (and so
// its wire type) and how to reach it in the Go struct. Size, Marshal and
// Unmarshal all read the same rows; a tag a table does not hold (or holds
// with another wire type) is an unknown field, kept as protobuf-go keeps
// it. A test holds every row to raftpb's compiled descriptors.
//
// # Decoding
//
// Unmarshal (and Reader) decodes a message in a constant number of
// allocations whatever the number of entries: the message, its scalar
// fields, one block for the entries and their scalar fields, one for the
// entries' pointers. Entry Data, snapshot data and Context alias the
// frame's buffer. Responses nest at most 64 deep; a frame's length is
// bounded by Reader.MaxSize before anything is allocated, and memory for
// a long frame is committed as its bytes arrive.
//
// # Errors
//
// A malformed frame or message is an error wrapping ErrFormat; a stream
// that ends cleanly between frames is io.EOF, one cut inside a frame
// io.ErrUnexpectedEOF.
package etcdwire
