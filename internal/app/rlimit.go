//go:build unix

package app

import (
	"fmt"
	"syscall"
)

// RaiseFileLimit raises the soft limit of open files (RLIMIT_NOFILE) to the hard limit, since
// every connection and relayed session holds descriptors and running out of them refuses
// newcomers. It returns the soft limits before and after.
func RaiseFileLimit() (before, after uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, fmt.Errorf("read the open files limit: %w", err)
	}
	before = uint64(lim.Cur)
	if lim.Cur >= lim.Max {
		return before, before, nil
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return before, before, fmt.Errorf("raise the open files limit to %d: %w", lim.Max, err)
	}
	return before, uint64(lim.Max), nil
}
