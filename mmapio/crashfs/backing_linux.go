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
