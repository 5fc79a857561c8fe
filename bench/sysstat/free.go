package sysstat

import "syscall"

// FreeBytes returns the free space of the filesystem holding path, as
// statfs reports it (blocks free to unprivileged users × block size).
// Unlike DiskUsage it sees space that is still held by unlinked files a
// process keeps open, and space given back by punching holes or by a
// close that happens after the call being measured.
func FreeBytes(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
