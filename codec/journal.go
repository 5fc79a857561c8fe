package codec

import (
	"github.com/spoolhq/spool/journal"
	"github.com/spoolhq/spool/stream"
)

// Append encodes v through its registered codec straight into the
// journal's mapped pages and returns the entry's index. When the codec
// gives the size (Sizer) and the entry is not compressed it uses
// journal.AppendSized, which keeps an entry that fits in a segment
// contiguous. It does not allocate for a codec that does not.
func Append[T any](j *journal.Journal, reg *Registry, v T) (uint64, error) {
	b, err := bindingOf[T](reg)
	if err != nil {
		return 0, err
	}
	size := b.size(v)
	fn := func(w *stream.Writer) error { return b.encode(reg, w, v, size) }
	if hint := b.hint(reg, size); hint >= 0 {
		return j.AppendSized(hint, fn)
	}
	return j.Append(fn)
}

// AppendBatch is Append into a journal.Batch: the entry becomes visible
// with the rest of the batch.
func AppendBatch[T any](bt *journal.Batch, reg *Registry, v T) (uint64, error) {
	b, err := bindingOf[T](reg)
	if err != nil {
		return 0, err
	}
	size := b.size(v)
	fn := func(w *stream.Writer) error { return b.encode(reg, w, v, size) }
	if hint := b.hint(reg, size); hint >= 0 {
		return bt.AppendSized(hint, fn)
	}
	return bt.Append(fn)
}

// Read decodes entry idx into *v by copying (see Decode). Errors name the
// index: "codec: unknown type id 42 at index 17".
func Read[T any](j *journal.Journal, reg *Registry, idx uint64, v *T) error {
	return j.Read(idx, func(r *stream.Reader) error {
		_, err := decodeEntry(reg, r, idx, v, copyAll)
		return err
	})
}

// ReadBorrowed decodes entry idx into *v, letting the codec alias the
// mapped bytes (see DecodeBorrowed), and calls fn while the entry is
// pinned. *v's borrowed fields must not be used after fn returns.
func ReadBorrowed[T any](j *journal.Journal, reg *Registry, idx uint64, v *T, fn func(v *T) error) error {
	return j.Read(idx, func(r *stream.Reader) error {
		held, err := decodeEntry(reg, r, idx, v, borrowHeld)
		if err != nil {
			return err
		}
		err = fn(v)
		if held != nil {
			held.release()
		}
		return err
	})
}

// Iterator walks journal entries in index order, reading each entry's
// envelope so that the caller can dispatch on its type id; decode the
// current entry, at most once, with DecodeCurrent, DecodeCurrentBorrowed or
// Any. Like
// journal.Iterator, each entry is pinned until the next call to Next or
// Close. An Iterator is not safe for concurrent use.
type Iterator struct {
	it   *journal.Iterator
	reg  *Registry
	h    Header
	err  error
	held *blockReader // decompressed bytes borrowed from the current entry
}

// drop releases the decompression buffer the current entry lent.
func (it *Iterator) drop() {
	if it.held != nil {
		it.held.release()
		it.held = nil
	}
}

// Iter returns an Iterator positioned before entry from.
func Iter(j *journal.Journal, reg *Registry, from uint64) *Iterator {
	return &Iterator{it: j.Iter(from), reg: reg}
}

// Next advances to the next entry and reads its envelope. It returns false
// at the end of the journal or on error (see Err).
func (it *Iterator) Next() bool {
	it.drop()
	if it.err != nil || !it.it.Next() {
		return false
	}
	h, err := readHeader(it.it.Reader(), it.reg.opts.MaxEntrySize)
	if err != nil {
		it.err = atIndex(err, it.it.Index())
		return false
	}
	it.h = h
	return true
}

// Index returns the current entry's index.
func (it *Iterator) Index() uint64 { return it.it.Index() }

// Header returns the current entry's envelope.
func (it *Iterator) Header() Header { return it.h }

// Err returns the error that stopped the iteration, if any.
func (it *Iterator) Err() error {
	if it.err != nil {
		return it.err
	}
	return it.it.Err()
}

// Close releases the iterator's pin.
func (it *Iterator) Close() error {
	it.drop()
	return it.it.Close()
}

// Any decodes the current entry, whatever its registered type (boxed in an
// interface: this allocates).
func (it *Iterator) Any() (any, error) {
	r := it.it.Reader()
	rb, ok := it.reg.tab.Load().byID[it.h.TypeID]
	if !ok {
		return nil, atIndex(unknownType(it.h), it.Index())
	}
	if err := checkVersion(r, it.h, rb); err != nil {
		return nil, atIndex(err, it.Index())
	}
	var v any
	err := withBody(it.reg, it.h, r, func(body *stream.Reader) error {
		var err error
		v, err = rb.decodeAny(body, it.h.Version)
		return err
	})
	return v, atIndex(err, it.Index())
}

// DecodeCurrent decodes the iterator's current entry into *v by copying.
func DecodeCurrent[T any](it *Iterator, v *T) error {
	return decodeCurrent(it, v, false)
}

// DecodeCurrentBorrowed decodes the iterator's current entry into *v,
// letting the codec alias the entry's bytes until the iterator moves.
func DecodeCurrentBorrowed[T any](it *Iterator, v *T) error {
	return decodeCurrent(it, v, true)
}

func decodeCurrent[T any](it *Iterator, v *T, borrowed bool) error {
	b, err := bindingOf[T](it.reg)
	if err != nil {
		return err
	}
	mode := copyAll
	if borrowed {
		mode = borrowHeld
	}
	it.drop()
	it.held, err = b.decodeBody(it.reg, it.h, it.it.Reader(), v, mode)
	return atIndex(err, it.Index())
}
