//go:build unix

package egress

import (
	"net"
	"syscall"
)

// useRaw has c read conn, when it is a socket, through its RawConn (burstConn says why).
func (c *burstConn) useRaw(conn net.Conn) {
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
			c.rawRead = c.readFD
		}
	}
}

// readFD reads the socket once into c.p; false when it would block (raw.Read then waits for
// the poller and calls it again).
func (c *burstConn) readFD(fd uintptr) bool {
	for {
		n, err := syscall.Read(int(fd), c.p)
		if err == syscall.EINTR {
			continue
		}
		if err == syscall.EAGAIN {
			return false
		}
		c.n, c.err = max(n, 0), err
		return true
	}
}
