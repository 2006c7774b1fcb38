package ingress

import (
	"net"
	"sync/atomic"
	"syscall"
)

// quickAckConn sets TCP_QUICKACK before every read while the handshake runs. The OpenSSH client
// sends two packets back to back twice during key exchange and authentication without
// TCP_NODELAY; with the kernel's delayed ACK each of those costs a 40 ms wait, which dominated the
// login time (docs/performance.md). Linux clears the flag by itself, hence every read; after
// authentication it is switched off so bulk relays pay no extra system call.
type quickAckConn struct {
	net.Conn
	raw syscall.RawConn
	on  atomic.Bool
}

func newQuickAckConn(c net.Conn) net.Conn {
	if p, ok := c.(*proxyConn); ok { // the PROXY protocol's wrapper: the flag goes on the TCP socket
		p.Conn = newQuickAckConn(p.Conn)
		return p
	}
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return c
	}
	q := &quickAckConn{Conn: c, raw: raw}
	q.on.Store(true)
	return q
}

func (q *quickAckConn) Read(p []byte) (int, error) {
	if q.on.Load() {
		_ = q.raw.Control(setQuickAck)
	}
	return q.Conn.Read(p)
}

// stopQuickAck ends the per-read flag once the connection is authenticated.
func stopQuickAck(c net.Conn) {
	if p, ok := c.(*proxyConn); ok {
		c = p.Conn
	}
	if q, ok := c.(*quickAckConn); ok {
		q.on.Store(false)
	}
}
