package mmapio

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// punchHole deallocates [off, off+n) with fallocate(PUNCH_HOLE|KEEP_SIZE):
// the blocks go back to the file system at once (not at the last close),
// and the kernel drops the range's page-cache pages, so mappings read
// zeros there afterwards. File systems without it (EOPNOTSUPP; ENOSYS on
// very old kernels) report ErrNoPunch and are unchanged.
func punchHole(f *os.File, off, n int64) error {
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return fmt.Errorf("%w: %w", ErrNoPunch, err)
	}
	return err
}
