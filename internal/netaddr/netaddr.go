// Package netaddr reads the IP and port of a connection's address, for logs, audit entries and
// session rows (The Bastion's ip_from / port_from …).
package netaddr

import (
	"net"
	"strconv"
)

// IP is the address's IP as text, or "" when it has none.
func IP(a net.Addr) string {
	if a == nil {
		return ""
	}
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	if p, ok := a.(*Proxied); ok {
		return p.Client.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// Port is the address's port, or 0 when it has none.
func Port(a net.Addr) int {
	if a == nil {
		return 0
	}
	if t, ok := a.(*net.TCPAddr); ok {
		return t.Port
	}
	if p, ok := a.(*Proxied); ok {
		return p.Client.Port
	}
	_, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}
