package ingress

import (
	"net"

	"gatehouse/internal/quickack"
)

// newQuickAckConn sets TCP_QUICKACK before every read while the handshake runs (internal/quickack).
// The OpenSSH client sends two packets back to back twice during key exchange and authentication
// without TCP_NODELAY; with the kernel's delayed ACK each of those costs a 40 ms wait, which
// dominated the login time (docs/performance.md). After authentication it is switched off
// (stopQuickAck) so bulk relays pay no extra system call.
func newQuickAckConn(c net.Conn) net.Conn {
	if p, ok := c.(*proxyConn); ok { // the PROXY protocol's wrapper: the flag goes on the TCP socket
		p.Conn = newQuickAckConn(p.Conn)
		return p
	}
	return quickack.New(c)
}

// stopQuickAck ends the per-read flag once the connection is authenticated.
func stopQuickAck(c net.Conn) {
	if p, ok := c.(*proxyConn); ok {
		c = p.Conn
	}
	quickack.Stop(c)
}
