//go:build unix

package sshtest

import (
	"os"
	"syscall"
)

// killGroup kills sshd's process group: the listener and the per-connection
// processes it forked.
func killGroup(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) } // gone either way
