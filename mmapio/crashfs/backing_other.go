//go:build !linux

package crashfs

import "os"

// newBacking returns an unlinked temporary file to hold a working image.
func newBacking() (*os.File, error) {
	f, err := os.CreateTemp("", "crashfs-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name())
	return f, nil
}

// punchBacking zeroes [off, off+n) of a working image with written zeros:
// the temporary file's mappings see them, which is all the model needs.
func punchBacking(back *os.File, off, n int64) error {
	zeros := make([]byte, min(n, 1<<20))
	for n > 0 {
		k := min(n, int64(len(zeros)))
		if _, err := back.WriteAt(zeros[:k], off); err != nil {
			return err
		}
		off, n = off+k, n-k
	}
	return nil
}
