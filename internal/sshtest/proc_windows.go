package sshtest

import (
	"os"
	"syscall"
)

// sysProcAttr: Windows has no process groups to put sshd in, nor Pdeathsig.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// killGroup kills sshd itself (its per-connection processes are not
// grouped on Windows).
func killGroup(p *os.Process) { _ = p.Kill() } // gone either way
