//go:build unix

package record

import (
	"errors"
	"os"
	"syscall"
)

// lockQueue takes the queue's lock (flock, exclusive, without waiting) for one pass; ErrQueueBusy
// when another process holds it. The lock ends with the descriptor (unlock, or the process's
// death: a kill -9 leaves no stale lock).
func lockQueue(queue string) (unlock func(), err error) {
	f, err := os.OpenFile(queueLockPath(queue), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close() // the lock error is the one to report
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrQueueBusy
		}
		return nil, err
	}
	return func() { _ = f.Close() }, nil
}
