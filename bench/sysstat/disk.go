package sysstat

import (
	"io/fs"
	"path/filepath"
	"syscall"
)

// DiskUsage returns the bytes allocated on disk to the files under dir, by
// block count (st_blocks × 512), as du counts them: preallocated space
// counts, holes do not.
func DiskUsage(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		total += st.Blocks * 512
		return nil
	})
	return total, err
}

// ApparentSize returns the sum of the sizes of the regular files under dir.
func ApparentSize(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		total += info.Size()
		return nil
	})
	return total, err
}
