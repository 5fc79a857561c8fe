package codec

import (
	"fmt"
	"math"

	"github.com/spoolhq/spool/stream"
)

// EnvelopeVersion is the version of the entry envelope this package writes
// and the only one it reads (see the package doc for the layout).
const EnvelopeVersion = 1

// Reserved type ids. Id 0 never names a type (a zeroed entry is never
// mistaken for one); ids from ReservedMin up are kept for spool's own entry
// types. Application ids are 1 to ReservedMin-1; ids below 128 take one
// byte in each entry.
const (
	ReservedMin uint32 = 0xFFFF_0000
)

// Compression algorithms recorded in the envelope's low bits.
const (
	algNone = 0
	algLZ4  = 1 // lz4 blocks, see blocks.go
	algMask = 0x03
	// Bits 2 and 3 are reserved: a reader refuses an envelope that sets
	// them, so a later format can use them without being misread.
	reservedMask = 0x0C
)

// maxHeaderSize bounds the envelope: 1 + uvarint32 + uvarint32 + uvarint64.
const maxHeaderSize = 1 + 5 + 5 + 10

// Header is an entry's envelope, as read by Iterator and ReadHeader.
type Header struct {
	TypeID     uint32 // registered type id
	Version    uint32 // version of the codec that wrote the body
	Compressed bool   // the body is lz4 blocks
	// RawLen is the uncompressed body length of a compressed entry, -1 for
	// an uncompressed one (its body runs to the end of the entry).
	RawLen int64
}

// headerSize returns the bytes putHeader writes.
func headerSize(id, version uint32, rawLen int64) int {
	n := 1 + stream.SizeUvarint(uint64(id)) + stream.SizeUvarint(uint64(version))
	if rawLen >= 0 {
		n += stream.SizeUvarint(uint64(rawLen))
	}
	return n
}

// putHeader writes an envelope; rawLen >= 0 marks a compressed body.
func putHeader(w *stream.Writer, id, version uint32, rawLen int64) {
	alg := byte(algNone)
	if rawLen >= 0 {
		alg = algLZ4
	}
	w.PutUint8(EnvelopeVersion<<4 | alg)
	w.PutUvarint(uint64(id))
	w.PutUvarint(uint64(version))
	if rawLen >= 0 {
		w.PutUvarint(uint64(rawLen))
	}
}

// readHeader decodes an envelope, bounding every field before use: the
// uncompressed length by maxRaw (no decompression bomb).
func readHeader(r *stream.Reader, maxRaw int64) (Header, error) {
	start := r.Offset()
	b := r.Uint8()
	id := r.Uvarint()
	ver := r.Uvarint()
	if err := r.Err(); err != nil {
		return Header{}, errorf(ErrEnvelope, start, err, "")
	}
	if v := b >> 4; v != EnvelopeVersion {
		return Header{}, errorf(ErrEnvelope, start, nil, fmt.Sprintf("version %d (this build reads %d)", v, EnvelopeVersion))
	}
	if b&reservedMask != 0 {
		return Header{}, errorf(ErrEnvelope, start, nil, fmt.Sprintf("reserved flag bits %#x", b&reservedMask))
	}
	if id == 0 || id > math.MaxUint32 {
		return Header{}, errorf(ErrEnvelope, start, nil, fmt.Sprintf("type id %d", id))
	}
	if ver > math.MaxUint32 {
		return Header{}, errorf(ErrEnvelope, start, nil, fmt.Sprintf("codec version %d", ver))
	}
	h := Header{TypeID: uint32(id), Version: uint32(ver), RawLen: -1}
	switch b & algMask {
	case algNone:
	case algLZ4:
		at := r.Offset()
		n := r.Uvarint()
		if err := r.Err(); err != nil {
			return Header{}, errorf(ErrEnvelope, at, err, "uncompressed length")
		}
		if n > uint64(maxRaw) {
			return Header{}, errorf(ErrTooLarge, at, nil, fmt.Sprintf("uncompressed length %d > max %d", n, maxRaw))
		}
		h.Compressed, h.RawLen = true, int64(n)
	default:
		return Header{}, errorf(ErrEnvelope, start, nil, fmt.Sprintf("compression algorithm %d", b&algMask))
	}
	return h, nil
}
