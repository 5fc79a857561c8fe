package codec

import (
	"io"

	"github.com/spoolhq/spool/stream"
)

// eachWindow hands the rest of r's stream to fn one window at a time,
// without copying: the slices alias r's windows (mapped pages, or a
// decompressed block) and are valid only during the call.
func eachWindow(r *stream.Reader, fn func([]byte) error) error {
	for {
		if b := r.Buffered(); len(b) > 0 {
			if err := fn(b); err != nil {
				return err
			}
			if _, err := r.Next(len(b)); err != nil {
				return err
			}
			continue
		}
		switch rem := r.Remaining(); {
		case rem == 0:
			return r.Err()
		case rem > 0:
			// Next moves into the next window; its first byte comes back
			// as a view, the rest is then Buffered.
			b, err := r.Next(1)
			if err != nil {
				return err
			}
			if err := fn(b); err != nil {
				return err
			}
		default:
			// A stream of unknown size: Next would make its end an error.
			c, err := r.ReadByte()
			if err == io.EOF {
				return r.Err()
			}
			if err != nil {
				return err
			}
			if err := fn([]byte{c}); err != nil {
				return err
			}
		}
	}
}

// appendRest appends the rest of r's stream to dst. It grows dst with the
// bytes actually read, never by a length the stream claims, so a hostile
// decompressed length costs no allocation beyond the real data; when the
// rest lies in the current window it is one exact allocation.
func appendRest(r *stream.Reader, dst []byte) ([]byte, error) {
	if rem := r.Remaining(); rem >= 0 && rem <= int64(len(r.Buffered())) {
		dst = grow(dst, int(rem))
	}
	err := eachWindow(r, func(b []byte) error {
		dst = append(dst, b...)
		return nil
	})
	return dst, err
}

// grow makes room for n more bytes in dst.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) >= n {
		return dst
	}
	out := make([]byte, len(dst), len(dst)+n)
	copy(out, dst)
	return out
}

// restView returns the rest of r's stream without copying when it lies in
// the current window (ok false otherwise; nothing is consumed then).
func restView(r *stream.Reader) (b []byte, ok bool) {
	rem := r.Remaining()
	if rem < 0 || rem > int64(len(r.Buffered())) {
		return nil, false
	}
	b, err := r.Next(int(rem))
	return b, err == nil
}
