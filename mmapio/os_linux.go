package mmapio

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// allocate reserves blocks with fallocate (mode 0: allocate and extend), so a
// full disk fails here and never as SIGBUS on a mapped write. Filesystems
// without fallocate get explicit zero writes, never a sparse ftruncate.
func allocate(f *os.File, cur, size int64) error {
	if size <= cur {
		return nil
	}
	err := unix.Fallocate(int(f.Fd()), 0, cur, size-cur)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return writeZeros(f, cur, size)
	}
	return err
}

func datasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

func fsyncDir(d *os.File) error { return d.Sync() }

// madvPopulateWrite is MADV_POPULATE_WRITE (Linux 5.14).
const madvPopulateWrite = 23

func advise(b []byte, a Advice) error {
	var adv int
	switch a {
	case AdviseNormal:
		adv = unix.MADV_NORMAL
	case AdviseSequential:
		adv = unix.MADV_SEQUENTIAL
	case AdviseRandom:
		adv = unix.MADV_RANDOM
	case AdviseWillNeed:
		adv = unix.MADV_WILLNEED
	case AdviseDontNeed:
		adv = unix.MADV_DONTNEED
	case AdviseWillWrite:
		adv = madvPopulateWrite
	default:
		return nil
	}
	err := unix.Madvise(b, adv)
	if a == AdviseWillWrite && errors.Is(err, unix.EINVAL) {
		return nil // kernel before 5.14: the hint does not exist
	}
	return err
}
