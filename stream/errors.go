package stream

import (
	"errors"
	"fmt"
)

// Sentinel errors; the errors returned by Writer and Reader wrap them, so
// compare with errors.Is.
var (
	// ErrTooLong reports a length prefix (or a requested size) above the
	// Reader's limits or above the bytes remaining in the stream.
	ErrTooLong = errors.New("stream: length exceeds limit")
	// ErrTruncated reports that the stream ended in the middle of a value.
	ErrTruncated = errors.New("stream: unexpected end of stream")
	// ErrOverflow reports a varint longer than 10 bytes or overflowing 64 bits.
	ErrOverflow = errors.New("stream: varint overflows 64 bits")
	// ErrSplit reports that Next could not return a contiguous view because
	// the requested bytes straddle two windows. Nothing was consumed.
	ErrSplit = errors.New("stream: bytes straddle a window boundary")
	// ErrNoSpace reports that a Writer's sink returned no further window.
	ErrNoSpace = errors.New("stream: sink has no more space")
)

// OffsetError is the error a Reader returns for malformed input: it names the
// stream offset at which the bad value starts and wraps a sentinel.
type OffsetError struct {
	Offset int64  // stream offset of the value
	What   string // which value, e.g. "bytes length 4294967296 > limit 67108864"
	Err    error  // sentinel: ErrTooLong, ErrTruncated or ErrOverflow
}

func (e *OffsetError) Error() string {
	return fmt.Sprintf("%v: %s at offset %d", e.Err, e.What, e.Offset)
}

// Unwrap returns the sentinel.
func (e *OffsetError) Unwrap() error { return e.Err }
