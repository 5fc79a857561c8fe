package codec

import (
	"fmt"

	"github.com/spoolhq/spool/stream"
)

// Decode reads one entry (envelope, then body) from r into *v, copying
// every byte it keeps: *v stays valid after the entry is released. T must
// be registered, and the entry must hold a T (else ErrTypeMismatch, or
// ErrUnknownType for an id the registry does not know).
func Decode[T any](reg *Registry, r *stream.Reader, v *T) error {
	_, err := decodeEntry(reg, r, 0, v, copyAll)
	return err
}

// DecodeBorrowed is Decode for codecs that implement BorrowDecoder: fields
// of *v may alias the entry's bytes and are valid only while the entry is
// pinned (inside the journal.Read callback, until View.Release, until the
// iterator moves). A compressed entry, whose decompressed bytes live in a
// pooled buffer that this function cannot keep past its return, and any
// entry of a codec without DecodeBorrowed, are decoded by copying (into a
// zeroed *v, so that no borrowed slice of v is written to). ReadBorrowed
// and DecodeCurrentBorrowed also borrow from a compressed entry of one
// block.
func DecodeBorrowed[T any](reg *Registry, r *stream.Reader, v *T) error {
	_, err := decodeEntry(reg, r, 0, v, borrowPinned)
	return err
}

// borrowMode says what a decode may alias.
type borrowMode int

const (
	copyAll      borrowMode = iota // nothing: Decode
	borrowPinned                   // the entry's own (pinned) bytes only
	// borrowHeld also lets a one-block compressed body be borrowed from
	// its decompression buffer, which decodeBody then returns for the
	// caller to release when the entry's pin ends.
	borrowHeld
)

// ReadHeader reads an entry's envelope from r, leaving r at the body; use
// it to dispatch on the type id, then DecodeBody.
func (reg *Registry) ReadHeader(r *stream.Reader) (Header, error) {
	return readHeader(r, reg.opts.MaxEntrySize)
}

// DecodeBody decodes the body of an entry whose envelope h was read from r
// by ReadHeader; borrowed selects DecodeBorrowed's semantics.
func DecodeBody[T any](reg *Registry, h Header, r *stream.Reader, v *T, borrowed bool) error {
	b, err := bindingOf[T](reg)
	if err != nil {
		return err
	}
	mode := copyAll
	if borrowed {
		mode = borrowPinned
	}
	_, err = b.decodeBody(reg, h, r, v, mode)
	return err
}

// DecodeAny decodes an entry of any registered type and returns the value
// (a T, boxed: this allocates). An unregistered type id is ErrUnknownType.
func (reg *Registry) DecodeAny(r *stream.Reader) (any, Header, error) {
	h, err := reg.ReadHeader(r)
	if err != nil {
		return nil, h, err
	}
	rb, ok := reg.tab.Load().byID[h.TypeID]
	if !ok {
		return nil, h, unknownType(h)
	}
	if err := checkVersion(r, h, rb); err != nil {
		return nil, h, err
	}
	var v any
	err = withBody(reg, h, r, func(body *stream.Reader) error {
		var err error
		v, err = rb.decodeAny(body, h.Version)
		return err
	})
	return v, h, err
}

// decodeEntry reads the envelope and decodes the body; the blockReader it
// returns (borrowHeld only) must be released once the entry's pin ends.
func decodeEntry[T any](reg *Registry, r *stream.Reader, idx uint64, v *T, mode borrowMode) (*blockReader, error) {
	b, err := bindingOf[T](reg)
	if err != nil {
		return nil, err
	}
	h, err := readHeader(r, reg.opts.MaxEntrySize)
	if err != nil {
		return nil, atIndex(err, idx)
	}
	held, err := b.decodeBody(reg, h, r, v, mode)
	return held, atIndex(err, idx)
}

func (b *binding[T]) decodeBody(reg *Registry, h Header, r *stream.Reader, v *T, mode borrowMode) (held *blockReader, err error) {
	if h.TypeID != b.id {
		if _, ok := reg.tab.Load().byID[h.TypeID]; !ok {
			return nil, unknownType(h)
		}
		name, _ := reg.TypeName(h.TypeID)
		return nil, &Error{Err: ErrTypeMismatch, Detail: fmt.Sprintf("type id %d (%s), want %d (%s)", h.TypeID, name, b.id, b.name), Offset: r.Offset()}
	}
	if err := checkVersion(r, h, b); err != nil {
		return nil, err
	}
	if !h.Compressed {
		return nil, finishBody(r, r, b.decode(r, h.Version, v, mode != copyAll))
	}
	br := blockReaders.Get().(*blockReader)
	br.reset(r, h.RawLen, reg.opts.MaxEntrySize)
	// Borrowing from decompressed bytes needs their buffer kept until the
	// pin ends (borrowHeld), and one window: a multi-block body reuses the
	// buffer for every block, overwriting what a view would point at.
	keep := mode == borrowHeld && h.RawLen <= BlockSize && b.borrow != nil
	if mode != copyAll && !keep {
		var zero T
		*v = zero // a copying Decode must not append into borrowed slices
	}
	err = finishBody(r, &br.r, b.decode(&br.r, h.Version, v, keep))
	if keep && err == nil {
		return br, nil
	}
	br.release()
	return nil, err
}

func (b *binding[T]) decode(r *stream.Reader, version uint32, v *T, borrowed bool) error {
	if borrowed && b.borrow != nil {
		return b.borrow.DecodeBorrowed(r, version, v)
	}
	if borrowed {
		var zero T
		*v = zero // v may hold views of an earlier entry: Decode must not write into them
	}
	return b.c.Decode(r, version, v)
}

// withBody runs fn over h's body, decompressing it if need be.
func withBody(reg *Registry, h Header, r *stream.Reader, fn func(*stream.Reader) error) error {
	if !h.Compressed {
		return finishBody(r, r, fn(r))
	}
	br := blockReaders.Get().(*blockReader)
	defer br.release()
	br.reset(r, h.RawLen, reg.opts.MaxEntrySize)
	return finishBody(r, &br.r, fn(&br.r))
}

// finishBody turns a codec's result into the package's error: any error is
// ErrCorrupt (wrapping the codec's), and a body the codec did not read to
// its end is ErrCorrupt too (an Encode/Decode mismatch, or damage).
func finishBody(entry, body *stream.Reader, err error) error {
	if err == nil {
		err = body.Err()
	}
	if err != nil {
		if _, ok := err.(*Error); ok {
			return err
		}
		return &Error{Err: ErrCorrupt, Offset: entry.Offset(), Cause: err}
	}
	if n := body.Remaining(); n > 0 {
		return &Error{Err: ErrCorrupt, Detail: fmt.Sprintf("%d trailing bytes after the body", n), Offset: entry.Offset()}
	}
	if entry != body {
		if n := entry.Remaining(); n > 0 {
			return &Error{Err: ErrCorrupt, Detail: fmt.Sprintf("%d trailing bytes after the last block", n), Offset: entry.Offset()}
		}
	}
	return nil
}

func unknownType(h Header) error {
	return &Error{Err: ErrUnknownType, Detail: fmt.Sprint(h.TypeID), Offset: -1}
}

func checkVersion(r *stream.Reader, h Header, rb registered) error {
	if h.Version > rb.version() {
		return &Error{Err: ErrVersion, Detail: fmt.Sprintf("%d of type id %d (%s decodes up to %d)", h.Version, h.TypeID, rb.typeName(), rb.version()), Offset: r.Offset()}
	}
	return nil
}
