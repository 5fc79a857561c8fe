package codec

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/spoolhq/spool/stream"
)

// Blob is a payload too large to hold in memory. Appending it streams the
// bytes from Src into the journal's pages; decoding it streams the entry's
// bytes into Dst. Neither side ever holds more than one 64 KiB buffer.
type Blob struct {
	// Src supplies the payload on append: read for exactly Size bytes if
	// Size > 0, else to io.EOF.
	Src io.Reader
	// Size is the payload's length if known (> 0); it becomes the size
	// hint and spares compression a counting pass. Decoding sets it to the
	// number of bytes written to Dst.
	Size int64
	// Dst receives the payload on decode.
	Dst io.Writer
}

// ErrBlob reports a Blob without the reader or writer it needs, or a Src
// that ended before Size bytes.
var ErrBlob = errors.New("codec: blob")

// BlobCodec is the Codec of Blob. Encode copies from Src through a pooled
// 64 KiB buffer into the writer's windows; Decode hands Dst the entry's
// windows themselves (mapped pages, or decompressed blocks), with no copy.
//
// Src can be read only once, so a Blob without Size is never counted for
// the compression policy: it is stored uncompressed. Give Size to have
// blobs compressed.
type BlobCodec struct{}

// oneShot marks BlobCodec's Encode as not repeatable (see binding.count).
func (BlobCodec) oneShot() {}

var blobBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// Version implements Codec.
func (BlobCodec) Version() uint32 { return 1 }

// Size implements Sizer.
func (BlobCodec) Size(v Blob) int {
	if v.Size > 0 {
		return int(v.Size)
	}
	return -1
}

// Encode implements Codec.
func (BlobCodec) Encode(w *stream.Writer, v Blob) error {
	if v.Src == nil {
		return fmt.Errorf("%w: nil Src", ErrBlob)
	}
	bp := blobBufs.Get().(*[]byte)
	defer blobBufs.Put(bp)
	buf := *bp
	var done int64
	for v.Size <= 0 || done < v.Size {
		p := buf
		if v.Size > 0 {
			p = buf[:min(int64(len(buf)), v.Size-done)]
		}
		n, err := v.Src.Read(p)
		if n > 0 {
			if _, werr := w.Write(p[:n]); werr != nil {
				return werr
			}
			done += int64(n)
		}
		if err == io.EOF {
			if v.Size > 0 && done < v.Size {
				return fmt.Errorf("%w: Src ended after %d of %d bytes: %w", ErrBlob, done, v.Size, io.ErrUnexpectedEOF)
			}
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Decode implements Codec: it writes the body to v.Dst and sets v.Size.
func (BlobCodec) Decode(r *stream.Reader, _ uint32, v *Blob) error {
	if v.Dst == nil {
		return fmt.Errorf("%w: nil Dst", ErrBlob)
	}
	v.Size = 0
	return eachWindow(r, func(b []byte) error {
		n, err := v.Dst.Write(b)
		v.Size += int64(n)
		return err
	})
}
