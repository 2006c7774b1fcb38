package netaddr

import (
	"net"
	"strconv"
)

// Proxied is a client's address as a trusted load balancer reported it (the PROXY protocol),
// with the balancer's own address. It is the client's everywhere an address is read (String,
// IP, Port: per-source limits, from= on keys, audit ip_from, session rows); Via gives the
// balancer's, for the audit lines that show both.
type Proxied struct {
	Client   *net.TCPAddr
	Balancer net.Addr
}

// Network is the client's ("tcp").
func (p *Proxied) Network() string { return p.Client.Network() }

// String is the client's "ip:port": parsers of addresses read the client's.
func (p *Proxied) String() string { return p.Client.String() }

// Via is the address of the load balancer a connected through, "" when a came directly.
func Via(a net.Addr) string {
	if p, ok := a.(*Proxied); ok && p.Balancer != nil {
		return p.Balancer.String()
	}
	return ""
}

// ViaFields are the balancer's IP and port for an audit line's extra fields (ip_balancer,
// port_balancer), nil when a came directly.
func ViaFields(a net.Addr) map[string]string {
	p, ok := a.(*Proxied)
	if !ok || p.Balancer == nil {
		return nil
	}
	return map[string]string{"ip_balancer": IP(p.Balancer), "port_balancer": strconv.Itoa(Port(p.Balancer))}
}
