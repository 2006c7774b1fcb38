package access

import (
	"net/netip"
	"testing"
	"time"
)

// TestHostMayMatchTable: whoHasAccessTo's loader leaves out the entries HostMayMatch refuses,
// so it must never refuse a host that Entry.Matches accepts for some user and port. Over every
// pair of these hosts and targets, HostMayMatch equals Matches of an entry for any user and any
// port (and Matches of an entry with a user and a port never accepts what HostMayMatch refused),
// and the table's expectations hold.
func TestHostMayMatchTable(t *testing.T) {
	now := time.Now()
	hosts := []string{"10.0.0.1", "10.0.0.2", "10.0.0.0/24", "10.0.0.0/8", "0.0.0.0/0", "::/0", "::ffff:10.0.0.0/120",
		"10.0.0.1/32", "2001:db8::1", "2001:db8::/64", "db1.example.org", "DB1.Example.org.", "db2.example.org",
		"10.0.0.01", "10.0.0.256", "", "not a host", "fe80::1%eth0"}
	targets := []Target{
		{Host: "10.0.0.1", IP: netip.MustParseAddr("10.0.0.1")},
		{Host: "db1.example.org", IP: netip.MustParseAddr("10.0.0.1")},
		{Host: "db1.example.org.", IP: netip.MustParseAddr("192.168.0.1")},
		{Host: "::ffff:10.0.0.1", IP: netip.MustParseAddr("10.0.0.1")},
		{Host: "2001:db8::1", IP: netip.MustParseAddr("2001:db8::1")},
		{Host: "", IP: netip.MustParseAddr("10.9.9.9")},
	}
	want := map[[2]string]bool{
		{"10.0.0.1", "10.0.0.1"}: true, {"10.0.0.2", "10.0.0.1"}: false, {"10.0.0.0/24", "10.0.0.1"}: true,
		{"::ffff:10.0.0.0/120", "10.0.0.1"}: true, {"::/0", "10.0.0.1"}: false, {"0.0.0.0/0", "10.9.9.9"}: true,
		{"db1.example.org", "db1.example.org"}: true, {"DB1.Example.org.", "db1.example.org."}: true,
		{"db2.example.org", "db1.example.org"}: false, {"db1.example.org", "10.0.0.1"}: false,
		{"10.0.0.01", "10.0.0.1"}: false, {"", "10.0.0.1"}: false, {"::/0", "2001:db8::1"}: true,
		{"2001:db8::/64", "2001:db8::1"}: true, {"10.0.0.1", "::ffff:10.0.0.1"}: true,
	}
	for _, tg := range targets {
		tg.IP = tg.IP.Unmap() // as checkTarget leaves it for Matches
		for _, h := range hosts {
			got := HostMayMatch(h, Target{Host: tg.Host, IP: tg.IP})
			if w, ok := want[[2]string{h, tg.Host}]; ok && got != w {
				t.Errorf("HostMayMatch(%q, %q) = %v, want %v", h, tg.Host, got, w)
			}
			for _, user := range []string{"root", "deploy"} {
				for _, port := range []int{22, 2222} {
					tu := Target{User: user, Host: tg.Host, IP: tg.IP, Port: port}
					if _, any := (Entry{Host: h}).Matches(now, tu); any != got {
						t.Errorf("host %q, target %+v: any user and port matches %v, HostMayMatch %v", h, tu, any, got)
					}
					if _, ok := (Entry{Host: h, User: "root", Port: 22}).Matches(now, tu); ok && !got {
						t.Errorf("host %q, target %+v: an entry matches that HostMayMatch refused", h, tu)
					}
				}
			}
		}
	}
}

// FuzzHostMayMatch: for any stored host and any target, HostMayMatch refuses nothing that
// Entry.Matches accepts (the loader's filter never drops a match).
func FuzzHostMayMatch(f *testing.F) {
	for _, s := range [][2]string{{"10.0.0.0/24", "10.0.0.1"}, {"db1.example.org", "db1.example.org."}, {"::/0", "2001:db8::1"},
		{"::ffff:10.0.0.0/120", "10.0.0.7"}, {"10.0.0.01", "10.0.0.1"}, {"", ""}} {
		f.Add(s[0], s[1], "10.0.0.1")
	}
	f.Fuzz(func(t *testing.T, host, typed, ip string) {
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return
		}
		tg := Target{User: "root", Host: typed, IP: addr.Unmap(), Port: 22}
		_, ok := (Entry{Host: host}).Matches(time.Now(), tg)
		if may := HostMayMatch(host, tg); may != ok {
			t.Fatalf("host %q, target %+v: Matches %v, HostMayMatch %v", host, tg, ok, may)
		}
	})
}
