//go:build linux || darwin || freebsd

package record

import "syscall"

// freeSpace is the space free for gatehouse on dir's file system; -1 when unknown.
func freeSpace(dir string) int64 {
	var st syscall.Statfs_t
	if syscall.Statfs(dir, &st) != nil {
		return -1
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
