package config

import "testing"

// TestProxyProtocolFrom: proxyProtocolFrom takes addresses and prefixes, off by default, and
// refuses anything else with its line (a typo must not trust, or distrust, a balancer silently).
func TestProxyProtocolFrom(t *testing.T) {
	if d := Default(); len(d.ProxyProtocolFrom) != 0 {
		t.Fatalf("the PROXY protocol is on by default: %v", d.ProxyProtocolFrom)
	}
	c, err := Parse("g.toml", []byte(`proxyProtocolFrom = ["10.0.0.5", "10.0.1.0/28", "2001:db8::7", "2001:db8:1::/64"]`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ProxyProtocolFrom) != 4 {
		t.Fatalf("got %v", c.ProxyProtocolFrom)
	}
	for _, bad := range []string{`"10.0.0"`, `"balancer.example"`, `"10.0.0.0/33"`, `"fe80::1%eth0"`, `""`, `"10.0.0.5 "`} {
		expectRefusal(t, "\nproxyProtocolFrom = ["+bad+"]\n", 2, "proxyProtocolFrom")
	}
}
