// Package stream provides allocation-free binary writers and readers over a
// sequence of byte windows.
//
// A Writer fills the window it was given and, when that window is full, hands
// it back to its Sink and receives the next one. The journal's sink hands out
// windows of memory-mapped segment pages, so a payload encoded through a
// Writer lands directly in the file's pages; tests and other callers can hand
// out plain slices. A Reader consumes windows from a Source in the same way.
// Neither ever holds a copy of the whole stream.
//
// Encodings are those of encoding/binary: fixed-width integers are little
// endian; Uvarint/Varint are the protobuf/encoding/binary base-128 varints;
// Bytes and String fields are a uvarint length followed by the bytes.
//
// Errors are sticky: after the first error every later call is a no-op that
// returns the same error, so a codec can issue a run of Put/Get calls and
// check Err once at the end (as bufio.Writer and protowire callers do).
//
// Borrowed bytes: Reader.Next and Reader.BytesView return slices that alias
// the Reader's current window. They are valid only as long as the window is:
// for journal reads, until the entry's pin is released. Copy what must outlive
// it (Reader.AppendBytes, Reader.String).
package stream
