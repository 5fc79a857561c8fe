package mmapio

import (
	"os"

	"golang.org/x/sys/unix"
)

// allocate reserves blocks with F_PREALLOCATE, then extends the file; where
// that is refused, explicit zero writes. Never a sparse ftruncate.
func allocate(f *os.File, cur, size int64) error {
	if size <= cur {
		return nil
	}
	st := unix.Fstore_t{Flags: unix.F_ALLOCATEALL, Posmode: unix.F_PEOFPOSMODE, Offset: 0, Length: size - cur}
	if err := unix.FcntlFstore(f.Fd(), unix.F_PREALLOCATE, &st); err != nil {
		return writeZeros(f, cur, size)
	}
	return f.Truncate(size)
}

// datasync uses F_FULLFSYNC: plain fsync on macOS does not flush the
// drive's cache.
func datasync(f *os.File) error {
	_, err := unix.FcntlInt(f.Fd(), unix.F_FULLFSYNC, 0)
	if err != nil {
		return f.Sync()
	}
	return nil
}

func fsyncDir(d *os.File) error { return d.Sync() }

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
	default:
		return nil // AdviseWillWrite has no macOS equivalent
	}
	return unix.Madvise(b, adv)
}
