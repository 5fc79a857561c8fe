package main

import (
	"time"

	"github.com/spoolhq/spool/stream"
)

// Put is the application's command: set Key to Value, with metadata.
type Put struct {
	Key   string
	Value []byte
	Meta  Meta
}

// Meta is what a KV store keeps beside a value: expiry, the revision the
// write creates, and the client request it answers (for deduplication).
type Meta struct {
	TTL       time.Duration
	Revision  uint64
	ClientID  uint64
	RequestID uint64
}

// putCodec encodes a Put field by field, straight into the journal's
// window. Version 1. To evolve the command, raise Version and keep
// decoding version 1 in Decode (see the codec package doc).
type putCodec struct{}

func (putCodec) Version() uint32 { return 1 }

// Size is exact, so codec.Append keeps each entry contiguous in a segment
// and the compression policy needs no counting pass.
func (putCodec) Size(p Put) int {
	return stream.SizeBytes(len(p.Key)) + stream.SizeBytes(len(p.Value)) + stream.SizeVarint(int64(p.Meta.TTL)) +
		stream.SizeUvarint(p.Meta.Revision) + stream.SizeUvarint(p.Meta.ClientID) + stream.SizeUvarint(p.Meta.RequestID)
}

func (putCodec) Encode(w *stream.Writer, p Put) error {
	w.PutString(p.Key)
	w.PutBytes(p.Value)
	w.PutVarint(int64(p.Meta.TTL))
	w.PutUvarint(p.Meta.Revision)
	w.PutUvarint(p.Meta.ClientID)
	w.PutUvarint(p.Meta.RequestID)
	return w.Err()
}

// Decode copies: the Put outlives the entry.
func (putCodec) Decode(r *stream.Reader, _ uint32, p *Put) error {
	var err error
	if p.Key, err = r.String(); err != nil {
		return err
	}
	if p.Value, err = r.AppendBytes(p.Value[:0]); err != nil {
		return err
	}
	p.decodeMeta(r)
	return r.Err()
}

// DecodeBorrowed aliases the entry: the key and value are valid only while
// it is pinned.
func (putCodec) DecodeBorrowed(r *stream.Reader, _ uint32, p *Put) error {
	var err error
	if p.Key, err = r.StringView(); err != nil {
		return err
	}
	if p.Value, err = r.BytesView(); err != nil {
		return err
	}
	p.decodeMeta(r)
	return r.Err()
}

func (p *Put) decodeMeta(r *stream.Reader) {
	p.Meta.TTL = time.Duration(r.Varint())
	p.Meta.Revision = r.Uvarint()
	p.Meta.ClientID = r.Uvarint()
	p.Meta.RequestID = r.Uvarint()
}
