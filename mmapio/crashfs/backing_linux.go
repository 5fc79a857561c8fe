package crashfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// newBacking returns an anonymous memory file to hold a working image.
func newBacking() (*os.File, error) {
	fd, err := unix.MemfdCreate("crashfs", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "crashfs-memfd"), nil
}

// punchBacking zeroes [off, off+n) of a working image by deallocating it,
// which drops the range from every mapping of the memfd as a real punch
// drops it from the page cache.
func punchBacking(back *os.File, off, n int64) error {
	return unix.Fallocate(int(back.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
}
