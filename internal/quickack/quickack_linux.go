package quickack

import "syscall"

// set asks Linux to acknowledge at once instead of delaying the ACK.
func set(fd uintptr) {
	_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
}
