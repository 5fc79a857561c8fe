//go:build linux || darwin

package crashfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapShared maps [off, off+n) of the backing file shared, so that stores
// into the returned slice are the working image itself.
func mapShared(f *os.File, off int64, n int, writable bool) ([]byte, error) {
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	return unix.Mmap(int(f.Fd()), off, n, prot, unix.MAP_SHARED)
}

func unmap(b []byte) error { return unix.Munmap(b) }
