package ingress

import "syscall"

// setQuickAck asks Linux to acknowledge at once instead of delaying the ACK.
func setQuickAck(fd uintptr) {
	_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
}
