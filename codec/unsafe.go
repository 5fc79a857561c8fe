package codec

import "unsafe"

// This file holds the package's only unsafe code.

// bytesString returns b as a string without copying, for String's borrowed
// decode: b is the journal's mapped bytes, which nobody writes while the
// entry is pinned, and the caller must not keep the string past the pin.
func bytesString(b []byte) string {
	return unsafe.String(unsafe.SliceData(b), len(b))
}
