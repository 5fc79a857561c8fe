// Package protocodec provides codec.Codec for protocol buffer messages, kept
// apart from package codec so that codec does not depend on protobuf.
//
//	codec.Register(reg, 12, protocodec.Of[*raftpb.Entry]())
//
// What is streamed, honestly: protobuf marshals whole messages. Encode
// computes proto.Size (also the entry's size hint, so the journal keeps the
// entry contiguous) and, when the writer's current window has that much
// room, as it has for any entry that fits in a segment, marshals with
// proto.MarshalAppend straight into the mapped window: no intermediate
// buffer. Otherwise (the entry crosses a segment boundary, or is being lz4
// compressed into 64 KiB blocks and is larger than what is left of the
// block) it marshals into a pooled buffer and copies that into the writer.
// Decode hands proto.Unmarshal the entry's bytes where they lie when they
// are contiguous; an entry spanning segments, or a compressed body of more
// than one block, is first copied into a pooled buffer. proto.Unmarshal
// copies bytes and string fields, so decoded messages never alias the
// journal (there is no borrowed decode).
package protocodec
