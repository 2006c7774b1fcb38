package netaddr

import (
	"net"
	"testing"
)

type strAddr string

func (s strAddr) Network() string { return "x" }
func (s strAddr) String() string  { return string(s) }

func TestIPPort(t *testing.T) {
	for _, tc := range []struct {
		a    net.Addr
		ip   string
		port int
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 22}, "192.0.2.1", 22},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 2222}, "::1", 2222},
		{strAddr("[2001:db8::1]:443"), "2001:db8::1", 443},
		{strAddr("pipe"), "pipe", 0},
		{nil, "", 0},
	} {
		if ip, port := IP(tc.a), Port(tc.a); ip != tc.ip || port != tc.port {
			t.Errorf("%v: got %q %d, want %q %d", tc.a, ip, port, tc.ip, tc.port)
		}
	}
}
