package codec

import (
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Every error this package returns wraps one of them;
// compare with errors.Is.
var (
	// ErrUnknownType reports an entry whose type id has no registered codec.
	ErrUnknownType = errors.New("codec: unknown type id")
	// ErrTypeMismatch reports an entry of another registered type than the
	// one the caller asked to decode.
	ErrTypeMismatch = errors.New("codec: entry holds another type")
	// ErrNotRegistered reports a Go type with no codec in the registry.
	ErrNotRegistered = errors.New("codec: type not registered")
	// ErrDuplicate reports a second registration of a type id or a Go type.
	ErrDuplicate = errors.New("codec: duplicate registration")
	// ErrReservedID reports a registration of type id 0 or of an id in the
	// range reserved for spool's own entry types.
	ErrReservedID = errors.New("codec: reserved type id")
	// ErrEnvelope reports a malformed entry envelope: unknown envelope
	// version, reserved flag bits, an out-of-range field.
	ErrEnvelope = errors.New("codec: malformed envelope")
	// ErrVersion reports an entry written by a newer codec version than the
	// registered codec decodes.
	ErrVersion = errors.New("codec: unsupported codec version")
	// ErrTooLarge reports an uncompressed length above Options.MaxEntrySize.
	ErrTooLarge = errors.New("codec: entry too large")
	// ErrCorrupt reports a body the codec or the decompressor could not
	// decode: bad lz4 data, a block of the wrong size, trailing bytes,
	// or an error from the codec's Decode (wrapped as well).
	ErrCorrupt = errors.New("codec: corrupt body")
	// ErrSize reports a codec whose Size did not match the bytes its Encode
	// wrote: the entry is not appended.
	ErrSize = errors.New("codec: size hint differs from bytes written")
)

// Error describes a failure to encode or decode one entry. It wraps a
// sentinel (Err) and, when a lower layer caused it, that error too (Cause),
// so errors.Is matches either.
type Error struct {
	Err    error  // sentinel
	Detail string // what, e.g. "42" for ErrUnknownType
	Index  uint64 // journal index of the entry, 0 if unknown
	Offset int64  // byte offset in the entry where decoding stopped, -1 if unknown
	Cause  error  // underlying error (from stream, lz4 or the codec), or nil
}

// Error formats the error as "codec: unknown type id 42 at index 17".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Err.Error())
	if e.Detail != "" {
		b.WriteByte(' ')
		b.WriteString(e.Detail)
	}
	if e.Index != 0 {
		b.WriteString(" at index ")
		b.WriteString(strconv.FormatUint(e.Index, 10))
	}
	if e.Offset >= 0 {
		b.WriteString(" (entry offset ")
		b.WriteString(strconv.FormatInt(e.Offset, 10))
		b.WriteByte(')')
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

// Unwrap returns the sentinel and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}

func errorf(sentinel error, offset int64, cause error, detail string) *Error {
	return &Error{Err: sentinel, Detail: detail, Offset: offset, Cause: cause}
}

// atIndex records the journal index in a codec error that lacks one; other
// errors (the journal's own) pass through unchanged.
func atIndex(err error, idx uint64) error {
	if err == nil || idx == 0 {
		return err // before errors.As, whose target would cost an allocation
	}
	return setIndex(err, idx)
}

func setIndex(err error, idx uint64) error {
	var e *Error
	if errors.As(err, &e) && e.Index == 0 {
		e.Index = idx
	}
	return err
}
