package codec

import "github.com/spoolhq/spool/stream"

// Codec encodes values of type T into an entry body and decodes them back.
//
// Encode writes v into w, which writes straight into the journal's mapped
// pages (or into an lz4 block when the entry is compressed); it may return
// early with an error, or leave one in w (w.Fail), to abort the entry.
//
// Decode reads a body written by Encode of the given codec version, which
// is never above Version (the registry checks), into *v. It must copy what
// it keeps: every byte it reads belongs to the journal and is valid only
// while the entry is pinned. Use r.AppendBytes or r.String, not
// r.BytesView. A codec that can keep views implements BorrowDecoder too.
//
// Version is the schema version Encode writes; it is recorded in every
// entry, so a codec can change its encoding by raising Version and keep
// decoding the old versions (see the package doc on schema evolution).
type Codec[T any] interface {
	Version() uint32
	Encode(w *stream.Writer, v T) error
	Decode(r *stream.Reader, version uint32, v *T) error
}

// Sizer is implemented by codecs that know the exact number of bytes
// Encode will write for v (a negative Size means "not known for this
// value"). The size lets the journal keep an entry that
// fits in a segment contiguous (journal.AppendSized), and lets compression
// decide and record the uncompressed length without a counting pass.
// An Encode that writes another number of bytes fails the entry with
// ErrSize.
type Sizer[T any] interface {
	Size(v T) int
}

// BorrowDecoder is implemented by codecs that can decode without copying:
// DecodeBorrowed may leave fields of *v aliasing the entry's bytes
// (r.BytesView, r.StringView, r.Next). Such a value is valid only as long
// as the entry is pinned: inside the journal.Read callback, until the
// journal.View is released, until the iterator's next step, or inside the
// ReadBorrowed callback. Like bufio.Reader.Peek and protowire's consume
// functions, the caller copies what must outlive that.
//
// Only DecodeBorrowed, ReadBorrowed and DecodeCurrentBorrowed call it;
// for codecs that do not implement it they call Decode.
//
// Never hand a value holding borrowed fields to a copying Decode that
// reuses their capacity (r.AppendBytes(v.Field[:0])): it would write into
// the journal's mapped pages. The package's own fallbacks from a borrowed
// to a copying decode zero *v first; do the same, or keep separate values
// for borrowed and copied decoding.
type BorrowDecoder[T any] interface {
	DecodeBorrowed(r *stream.Reader, version uint32, v *T) error
}
