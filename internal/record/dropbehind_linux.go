package record

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing [off, off+n) of f to disk, without waiting.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE) // advisory: see dropBehind
}

// dropWritten waits until [off, off+n) of f is on disk, then drops those pages from the cache.
func dropWritten(f *os.File, off, n int64) {
	fd := int(f.Fd())
	// Advisory, as above: an error here is met again by Close's fsync.
	if unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER) == nil {
		_ = unix.Fadvise(fd, off, n, unix.FADV_DONTNEED)
	}
}
