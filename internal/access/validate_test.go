package access

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseHost(t *testing.T) {
	tests := []struct {
		in   string
		kind HostKind
		want string // canonical form, or substring of the error
	}{
		{"10.0.0.5", HostIP, "10.0.0.5"},
		{"10.0.0.5/32", HostIP, "10.0.0.5"},
		{"10.0.0.0/24", HostPrefix, "10.0.0.0/24"},
		{"0.0.0.0/0", HostPrefix, "0.0.0.0/0"},
		{"2001:db8::1", HostIP, "2001:db8::1"},
		{"2001:DB8::/32", HostPrefix, "2001:db8::/32"},
		{"::ffff:10.0.0.5", HostIP, "10.0.0.5"},
		{"::ffff:10.0.0.0/120", HostPrefix, "10.0.0.0/24"},
		{"Srv-1.Example.org", HostName, "srv-1.example.org"},
		{"srv1.example.org.", HostName, "srv1.example.org"},
		{"localhost", HostName, "localhost"},
		{"", 0, "missing host"},
		{"10.0.0.5/24", 0, "host bits are set, did you mean 10.0.0.0/24"},
		{"10.0.0.0/33", 0, "invalid IP prefix"},
		{"10.0.0.256", 0, "looks like an IP"},
		{"a;b", 0, "not an IP"},
		{"$(id)", 0, "not an IP"},
		{"-oProxyCommand=x", 0, "not an IP"},
		{"host name", 0, "not an IP"},
		{"a..b", 0, "not an IP"},
		{"fe80::1%eth0", 0, "zones"},
		{strings.Repeat("a", 64) + ".org", 0, "not an IP"},
		{"::ffff:0:0/64", 0, "IPv4 notation"},
	}
	for _, tc := range tests {
		h, err := ParseHost(tc.in)
		if tc.kind == 0 {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseHost(%q) = %+v, %v; want error containing %q", tc.in, h, err, tc.want)
			}
			continue
		}
		if err != nil || h.Kind != tc.kind || h.String() != tc.want {
			t.Errorf("ParseHost(%q) = %+v (%s), %v; want kind %d %q", tc.in, h, h.String(), err, tc.kind, tc.want)
		}
	}
}

func TestCheckACLHost(t *testing.T) {
	tests := []struct {
		host       string
		widest4    int
		widest6    int
		wantErrSub string
	}{
		{"10.0.0.5", 0, 0, ""},
		{"10.0.0.5", 32, 128, ""},
		{"srv.example.org", 24, 64, ""},
		{"10.0.0.0/24", 0, 0, ""}, // no --force needed, as The Bastion
		{"10.0.0.0/17", 0, 0, ""},
		{"10.0.0.0/24", 24, 0, ""},
		{"10.0.0.0/17", 24, 0, "Specified prefix length (/17) is too wide, maximum allowed for IPv4 is /24 by policy"},
		{"10.0.0.0/17", 17, 0, ""},
		{"0.0.0.0/0", 0, 0, ""},
		{"0.0.0.0/0", 1, 0, "too wide, maximum allowed for IPv4 is /1"},
		{"0.0.0.0/0", 8, 0, "too wide, maximum allowed for IPv4 is /8"},
		{"10.0.0.0/8", 8, 0, ""},
		{"10.0.0.0/8", 0, 64, ""}, // the v6 bound does not apply to v4
		{"2001:db8::/32", 0, 0, ""},
		{"2001:db8::/32", 24, 0, ""},
		{"2001:db8::/32", 0, 48, "maximum allowed for IPv6 is /48"},
		{"2001:db8::/48", 0, 48, ""},
	}
	for _, tc := range tests {
		h, err := ParseHost(tc.host)
		if err != nil {
			t.Fatal(err)
		}
		err = CheckACLHost(h, tc.widest4, tc.widest6)
		if tc.wantErrSub == "" && err != nil || tc.wantErrSub != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErrSub)) {
			t.Errorf("CheckACLHost(%s, widest=%d/%d) = %v, want %q", tc.host, tc.widest4, tc.widest6, err, tc.wantErrSub)
		}
	}
}

func TestDecideDNS(t *testing.T) {
	for _, tc := range []struct {
		host  string
		level int
		want  DNSStep
	}{
		{"10.0.0.1", 0, DNSNone}, {"10.0.0.1", 2, DNSNone}, {"10.0.0.0/24", 0, DNSNone}, {"2001:db8::1", 0, DNSNone},
		{"srv.example.org", 0, DNSRefuse}, {"srv.example.org", 1, DNSResolve}, {"srv.example.org", 2, DNSResolve},
		{"srv.example.org", -1, DNSRefuse}, {"srv.example.org", 3, DNSRefuse}, {"localhost", 0, DNSRefuse},
	} {
		h, err := ParseHost(tc.host)
		if err != nil {
			t.Fatal(err)
		}
		if got := DecideDNS(h, tc.level); got != tc.want {
			t.Errorf("DecideDNS(%s, %d) = %v, want %v", tc.host, tc.level, got, tc.want)
		}
	}
}

func TestPickResolved(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		in   []netip.Addr
		want string
	}{
		{nil, ""},
		{[]netip.Addr{a("2001:db8::1"), a("192.0.2.1")}, "192.0.2.1"},
		{[]netip.Addr{a("::ffff:192.0.2.7")}, "192.0.2.7"},
		{[]netip.Addr{a("2001:db8::1"), a("2001:db8::2")}, "2001:db8::1"},
		{[]netip.Addr{a("0.0.0.0"), a("224.0.0.1"), a("ff02::1"), a("fe80::1%eth0")}, ""},
		{[]netip.Addr{a("0.0.0.0"), a("198.51.100.3")}, "198.51.100.3"},
	} {
		got, ok := PickResolved(tc.in)
		if tc.want == "" && ok || tc.want != "" && (!ok || got.String() != tc.want) {
			t.Errorf("PickResolved(%v) = %v %v, want %q", tc.in, got, ok, tc.want)
		}
	}
}

// FuzzParseHost: what a user types after --host (or in a groupSetServers line) never panics,
// and what it accepts is canonical: a prefix has no host bits, and its text parses back the same.
func FuzzParseHost(f *testing.F) {
	for _, s := range []string{"10.0.0.0/24", "10.0.0.1/24", "10.0.0.0/17", "0.0.0.0/0", "::ffff:10.0.0.0/120", "2001:db8::/32",
		"srv.example.org", "10.0.0.256", "fe80::1%eth0", "", "/", "a..b", "1.2.3.4/33", "[::1]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHost(s)
		if err != nil {
			return
		}
		_ = CheckACLHost(h, 24, 64)
		_ = DecideDNS(h, 2)
		switch h.Kind {
		case HostPrefix, HostIP:
			if h.Prefix.Masked() != h.Prefix {
				t.Fatalf("%q accepted with host bits set: %v", s, h.Prefix)
			}
			back, err := ParseHost(h.String())
			if err != nil || back != h {
				t.Fatalf("%q -> %q does not parse back: %v %v", s, h.String(), back, err)
			}
		}
	})
}

func TestValidatePort(t *testing.T) {
	for _, ok := range []string{"1", "22", "65535"} {
		if _, err := ValidatePort(ok); err != nil {
			t.Errorf("ValidatePort(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"0", "65536", "-1", "22a", "", " 22", "+22", "022", "99999999999999999999"} {
		if _, err := ValidatePort(bad); err == nil {
			t.Errorf("ValidatePort(%q) accepted", bad)
		}
	}
}

func TestValidateRemoteUser(t *testing.T) {
	for _, ok := range []string{"root", "www-data", "a.b_c", "!scpupload", strings.Repeat("u", 128)} {
		if err := ValidateRemoteUser(ok, false); err != nil {
			t.Errorf("ValidateRemoteUser(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "root;id", "a b", "$(id)", "`id`", "a|b", "a&b", "a>b", "u@h", "x'y", "-oProxyCommand", strings.Repeat("u", 129), "ro*t"} {
		if err := ValidateRemoteUser(bad, false); err == nil {
			t.Errorf("ValidateRemoteUser(%q) accepted", bad)
		}
	}
	if err := ValidateRemoteUser("app-*", true); err != nil {
		t.Errorf("wildcards refused in ACL mode: %v", err)
	}
}

func TestValidateNames(t *testing.T) {
	for _, ok := range []string{"al", "te3456789012345678stu_Ser.1-", "john.doe", "A_b-c"} {
		if err := ValidateAccountName(ok); err != nil {
			t.Errorf("ValidateAccountName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a", "te3456789012345678stu_Ser.1-x", "-x", ".x", "a b", "a/b", "keyfoo", "bob-tty", "bob-owner", "realm_x", "root", "é"} {
		if err := ValidateAccountName(bad); err == nil {
			t.Errorf("ValidateAccountName(%q) accepted", bad)
		}
	}
	for _, ok := range []string{"ops", "g", "team.db_1-prod", "abcdefghijklmnopqr"} {
		if err := ValidateGroupName(ok); err != nil {
			t.Errorf("ValidateGroupName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "abcdefghijklmnopqrs", "-g", ".g", "keyops", "ops-owner", "gatekeeper", "ops-tty", "root", "osh", "a b", "a;b"} {
		if err := ValidateGroupName(bad); err == nil {
			t.Errorf("ValidateGroupName(%q) accepted", bad)
		}
	}
}

func TestCheckGuestTTL(t *testing.T) {
	if err := CheckGuestTTL(0, 0); err != nil {
		t.Error(err)
	}
	if err := CheckGuestTTL(time.Hour, 0); err == nil {
		t.Error("no TTL accepted under a limit")
	}
	if err := CheckGuestTTL(time.Hour, 2*time.Hour); err == nil {
		t.Error("TTL over the limit accepted")
	}
	if err := CheckGuestTTL(time.Hour, time.Hour); err != nil {
		t.Error(err)
	}
}

func TestCheckRole(t *testing.T) {
	g := Group{Name: "ops", Owners: []string{"olga"}, Gatekeepers: []string{"gary"}, Aclkeepers: []string{"ada"}}
	tests := []struct {
		actor    Actor
		role     Role
		override bool
		code     string
	}{
		{Actor{Name: "olga"}, RoleOwner, false, ""},
		{Actor{Name: "olga"}, RoleGatekeeper, false, "ERR_NOT_GROUP_GATEKEEPER"},
		{Actor{Name: "gary"}, RoleGatekeeper, false, ""},
		{Actor{Name: "gary"}, RoleAclkeeper, false, "ERR_NOT_GROUP_ACLKEEPER"},
		{Actor{Name: "ada"}, RoleAclkeeper, false, ""},
		{Actor{Name: "ada"}, RoleOwner, false, "ERR_NOT_GROUP_OWNER"},
		{Actor{Name: "sam", SuperOwner: true}, RoleOwner, true, ""},
		{Actor{Name: "sam", SuperOwner: true}, RoleAclkeeper, true, ""},
		{Actor{Name: "adm", Admin: true}, RoleGatekeeper, true, ""},
		{Actor{Name: "olga", SuperOwner: true}, RoleOwner, false, ""}, // real owner: no override to log
		{Actor{}, RoleOwner, false, "ERR_NOT_GROUP_OWNER"},
		{Actor{SuperOwner: true}, RoleOwner, false, "ERR_NOT_GROUP_OWNER"}, // nameless actor never passes
	}
	for _, tc := range tests {
		override, err := CheckRole(tc.actor, g, tc.role, "")
		var r *Refusal
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("%+v %s: unexpected %v", tc.actor, tc.role, err)
		case tc.code != "" && (!errors.As(err, &r) || r.Code != tc.code || r.Exit != 100):
			t.Errorf("%+v %s: got %v, want %s", tc.actor, tc.role, err, tc.code)
		case override != tc.override:
			t.Errorf("%+v %s: override = %v", tc.actor, tc.role, override)
		}
	}
	_, err := IsAclkeeper(Actor{Name: "bob"}, g, "add servers to it")
	if err == nil || err.Error() != "Sorry, you must be an aclkeeper of group ops to be able to add servers to it" {
		t.Errorf("message = %v", err)
	}
	if _, err := CheckRole(Actor{Name: "olga"}, g, Role("member"), ""); err == nil {
		t.Error("unknown role accepted")
	}
}
