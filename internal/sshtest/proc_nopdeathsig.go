//go:build unix && !linux && !freebsd

package sshtest

import "syscall"

// sysProcAttr puts sshd in its own process group; the OS has no Pdeathsig,
// so a test binary that dies leaves it to the cleanup of the next run.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
