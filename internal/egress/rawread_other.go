//go:build !unix

package egress

import "net"

// useRaw leaves c reading through net.Conn's Read: a raw read of the socket (readFD, a
// non-blocking read(2) that the poller retries) is the Unix poller's way; Windows' sockets are
// read through overlapped I/O, which net.Conn already does.
func (c *burstConn) useRaw(net.Conn) {}
