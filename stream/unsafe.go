package stream

import "unsafe"

// This file holds the package's only unsafe code.

// stringBytes returns the bytes of s without copying. The result must never
// be written to: it is used only as the source of a copy in
// Writer.WriteString's slow path, so that writing a string that straddles
// windows costs no allocation.
func stringBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// bytesString returns b as a string without copying. The caller guarantees
// that b is not modified for as long as the string is in use; see
// Reader.StringView.
func bytesString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
