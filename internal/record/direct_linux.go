package record

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openDirect opens the recording for direct reads and writes; it must still be the file
// Create made (see open). A file system without O_DIRECT gives errDirectUnsupported.
func (r *recFile) openDirect() (*os.File, error) {
	f, err := os.OpenFile(r.path, os.O_RDWR|unix.O_DIRECT, 0)
	if err != nil {
		if isUnsupported(err) {
			return nil, fmt.Errorf("%w: %v", errDirectUnsupported, err)
		}
		return nil, fmt.Errorf("reopen %s: %w", r.path, err)
	}
	fi, err := f.Stat()
	if err == nil && !os.SameFile(fi, r.id) {
		err = errReplaced
	}
	if err != nil {
		_ = f.Close() // not the recording: the error is what matters
		return nil, fmt.Errorf("reopen %s: %w", r.path, err)
	}
	return f, nil
}

// isUnsupported: the file system refuses direct I/O or its alignment.
func isUnsupported(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)
}
