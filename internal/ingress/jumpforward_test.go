package ingress

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"gatehouse/internal/access"
)

// TestThroughDest: a -L/-D destination inside a jump is decided where the target will connect:
// its own loopback (any 127/8 address, ::1, "localhost", the unspecified addresses, a name that
// resolves there) is the target itself; another address is itself; a name is resolved by the
// bastion and the target is given the address, never the name; an unresolvable name and a zone
// are refused.
func TestThroughDest(t *testing.T) {
	tgt := access.Target{User: "root", Host: "db1", IP: netip.MustParseAddr("10.0.0.5"), Port: 22}
	resolve := func(_ context.Context, host string) (netip.Addr, error) {
		switch host {
		case "web":
			return netip.MustParseAddr("10.0.0.6"), nil
		case "sneaky":
			return netip.MustParseAddr("127.0.0.2"), nil
		case "mapped":
			return netip.MustParseAddr("::ffff:10.0.0.7"), nil
		}
		return netip.Addr{}, errors.New("no such host")
	}
	for _, c := range []struct {
		host       string
		wantHost   string
		wantIP     string
		wantDial   string
		wantRefuse bool
	}{
		{"127.0.0.1", "db1", "10.0.0.5", "127.0.0.1", false},
		{"127.1.2.3", "db1", "10.0.0.5", "127.1.2.3", false},
		{"::1", "db1", "10.0.0.5", "::1", false},
		{"localhost", "db1", "10.0.0.5", "127.0.0.1", false},
		{"LOCALHOST.", "db1", "10.0.0.5", "127.0.0.1", false},
		{"0.0.0.0", "db1", "10.0.0.5", "0.0.0.0", false},
		{"::", "db1", "10.0.0.5", "::", false},
		{"sneaky", "db1", "10.0.0.5", "127.0.0.2", false},
		{"10.0.0.5", "10.0.0.5", "10.0.0.5", "10.0.0.5", false},
		{"10.0.0.9", "10.0.0.9", "10.0.0.9", "10.0.0.9", false},
		{"::ffff:10.0.0.9", "::ffff:10.0.0.9", "10.0.0.9", "10.0.0.9", false},
		{"web", "web", "10.0.0.6", "10.0.0.6", false},
		{"mapped", "mapped", "10.0.0.7", "10.0.0.7", false},
		{"nowhere", "", "", "", true},
		{"fe80::1%eth0", "", "", "", true},
	} {
		dest, dial, err := ThroughDest(context.Background(), JumpTarget{Host: c.host, Port: 80}, tgt, resolve)
		if (err != nil) != c.wantRefuse {
			t.Errorf("%s: err %v, want refused=%v", c.host, err, c.wantRefuse)
			continue
		}
		if err != nil {
			continue
		}
		if dest.Host != c.wantHost || dest.IP.String() != c.wantIP || dest.Port != 80 || dial != c.wantDial {
			t.Errorf("%s: dest %s %s:%d dial %s, want %s %s:80 dial %s", c.host, dest.Host, dest.IP, dest.Port, dial, c.wantHost, c.wantIP, c.wantDial)
		}
	}
}

// FuzzThroughDest: whatever a client names, the destination is an address the decision can
// match, and the target is given an IP address, nothing else.
func FuzzThroughDest(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "localhost", "::1", "10.0.0.5", "web", "", "fe80::1%lo", "0.0.0.0", "::ffff:127.0.0.1", "a\x00b"} {
		f.Add(s, uint16(80))
	}
	tgt := access.Target{User: "root", Host: "db1", IP: netip.MustParseAddr("10.0.0.5"), Port: 22}
	resolve := func(context.Context, string) (netip.Addr, error) { return netip.MustParseAddr("10.0.0.6"), nil }
	f.Fuzz(func(t *testing.T, host string, port uint16) {
		dest, dial, err := ThroughDest(context.Background(), JumpTarget{Host: host, Port: int(port)}, tgt, resolve)
		if err != nil {
			return
		}
		ip, perr := netip.ParseAddr(dial)
		if perr != nil || ip.Zone() != "" || !dest.IP.IsValid() || dest.IP.Is4In6() {
			t.Fatalf("%q: dest %+v dial %q", host, dest, dial)
		}
		if (ip.IsLoopback() || ip.IsUnspecified()) && dest.IP != tgt.IP {
			t.Fatalf("%q: the target's own loopback decided as %v", host, dest.IP)
		}
	})
}
