package codec

import (
	"fmt"

	"github.com/spoolhq/spool/stream"
)

// Encode writes v as one entry (envelope, then body) into w, compressing
// the body if the registry's policy says so. T must be registered. An error
// is also left in w, so a journal append built on it is aborted.
func Encode[T any](reg *Registry, w *stream.Writer, v T) error {
	b, err := bindingOf[T](reg)
	if err != nil {
		w.Fail(err)
		return err
	}
	return b.encode(reg, w, v, b.size(v))
}

// SizeHint returns the exact number of bytes Encode writes for v, or -1 if
// the codec has no Sizer or the entry would be compressed (an lz4 body's
// size is known only once written).
func SizeHint[T any](reg *Registry, v T) int64 {
	b, err := bindingOf[T](reg)
	if err != nil {
		return -1
	}
	return b.hint(reg, b.size(v))
}

func (b *binding[T]) hint(reg *Registry, size int64) int64 {
	if size < 0 || reg.opts.Compression.wants(size) {
		return -1
	}
	return int64(headerSize(b.id, b.ver, -1)) + size
}

// encode writes the entry; size is the body's exact size or -1.
func (b *binding[T]) encode(reg *Registry, w *stream.Writer, v T, size int64) error {
	if reg.opts.Compression.needsSize() && size < 0 && !b.oneShot {
		var err error
		if size, err = b.count(v); err != nil {
			w.Fail(err)
			return err
		}
	}
	if reg.opts.Compression.wants(size) {
		return b.encodeCompressed(reg, w, v, size)
	}
	putHeader(w, b.id, b.ver, -1)
	start := w.Written()
	if err := b.c.Encode(w, v); err != nil {
		w.Fail(err)
		return err
	}
	if err := w.Err(); err != nil {
		return err
	}
	if n := w.Written() - start; size >= 0 && n != size {
		return b.sizeError(w, size, n)
	}
	return nil
}

func (b *binding[T]) encodeCompressed(reg *Registry, w *stream.Writer, v T, size int64) error {
	if size > reg.opts.MaxEntrySize {
		err := &Error{Err: ErrTooLarge, Detail: fmt.Sprintf("%s body of %d bytes > max %d", b.name, size, reg.opts.MaxEntrySize), Offset: -1}
		w.Fail(err)
		return err
	}
	putHeader(w, b.id, b.ver, size)
	bw := blockWriters.Get().(*blockWriter)
	defer func() {
		bw.out = nil
		blockWriters.Put(bw)
	}()
	bw.reset(w)
	if err := b.c.Encode(&bw.w, v); err != nil {
		w.Fail(err)
		return err
	}
	if err := bw.w.Err(); err != nil {
		w.Fail(err)
		return err
	}
	n, err := bw.finish()
	if err != nil {
		w.Fail(err)
		return err
	}
	if n != size {
		return b.sizeError(w, size, n)
	}
	return nil
}

func (b *binding[T]) sizeError(w *stream.Writer, want, got int64) error {
	err := &Error{Err: ErrSize, Detail: fmt.Sprintf("%s: Size said %d, Encode wrote %d", b.name, want, got), Offset: -1}
	w.Fail(err)
	return err
}

// count encodes v into a discarding writer and returns its size.
func (b *binding[T]) count(v T) (int64, error) {
	c := counters.Get().(*counter)
	defer counters.Put(c)
	c.w.Reset(c, c.scratch)
	if err := b.c.Encode(&c.w, v); err != nil {
		return 0, err
	}
	if err := c.w.Err(); err != nil {
		return 0, err
	}
	return c.w.Written(), nil
}
