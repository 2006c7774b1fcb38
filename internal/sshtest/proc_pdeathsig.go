//go:build linux || freebsd

package sshtest

import "syscall"

// sysProcAttr puts sshd in its own process group, killed by the kernel with
// the test binary (Pdeathsig: Linux and FreeBSD only).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
