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
