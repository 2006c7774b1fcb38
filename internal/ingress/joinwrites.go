package ingress

import (
	"net"

	"gatehouse/internal/quickack"
	"gatehouse/internal/sshwrite"
)

// newJoinConn is a client's connection whose SSH packets leave in one writev each
// (internal/sshwrite; docs/performance.md, Issue 12): c with its wrappers (quickack.Conn,
// proxyConn), the writes onto the TCP socket under them.
func newJoinConn(c net.Conn) net.Conn {
	raw := c
	for {
		switch w := raw.(type) {
		case *quickack.Conn:
			raw = w.Conn
			continue
		case *proxyConn:
			raw = w.Conn
			continue
		}
		break
	}
	tcp, ok := raw.(*net.TCPConn)
	if !ok {
		return c
	}
	return sshwrite.NewConn(c, tcp)
}
