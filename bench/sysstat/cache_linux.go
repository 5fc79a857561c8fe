package sysstat

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Cache says how a cold-cache measurement evicted the store's pages.
type Cache string

const (
	// ColdDropCaches: the whole page cache was dropped
	// (echo 1 > /proc/sys/vm/drop_caches), as after a reboot.
	ColdDropCaches Cache = "cold (drop_caches)"
	// ColdFadvise: the store's files were evicted with
	// posix_fadvise(POSIX_FADV_DONTNEED); dentries, inodes and other files
	// stay cached.
	ColdFadvise Cache = "cold (fadvise)"
	// Warm: nothing was evicted.
	Warm Cache = "warm"
)

// Evict empties the page cache of the files under dir as far as the system
// allows: drop_caches when permitted (root, writable /proc/sys), else
// POSIX_FADV_DONTNEED on each file. It syncs first so that dirty pages can
// be dropped, and reports which method took effect.
func Evict(dir string) (Cache, error) {
	unix.Sync()
	if os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0) == nil {
		return ColdDropCaches, nil
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		return errors.Join(unix.Fdatasync(int(f.Fd())), unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED))
	})
	if err != nil {
		return Warm, err
	}
	return ColdFadvise, nil
}

// FSType returns the name of the filesystem holding path ("ext4", "xfs",
// "tmpfs", ...) or its magic number in hex when unknown.
func FSType(path string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return "unknown"
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return "0x" + strconv.FormatUint(uint64(st.Type), 16)
}
