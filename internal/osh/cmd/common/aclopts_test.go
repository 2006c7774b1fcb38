package common

import (
	"strings"
	"testing"
	"time"

	"gatehouse/internal/access"
)

func TestCheckACL(t *testing.T) {
	tests := []struct {
		name      string
		in        ACLInput
		adding    bool
		wildcards bool
		code      string // "" = valid
		host      string
		user      string
		port      int
	}{
		{name: "ip user port", in: ACLInput{Host: "10.0.0.5", User: "root", Port: "22"}, adding: true, host: "10.0.0.5", user: "root", port: 22},
		{name: "any user any port", in: ACLInput{Host: "10.0.0.5", UserAny: true, PortAny: true}, adding: true, host: "10.0.0.5"},
		{name: "star means any", in: ACLInput{Host: "10.0.0.5", User: "*", Port: "*"}, adding: true, host: "10.0.0.5"},
		{name: "/32 is one address", in: ACLInput{Host: "1.2.3.4/32", UserAny: true, PortAny: true}, adding: true, host: "1.2.3.4"},
		{name: "host name", in: ACLInput{Host: "DB1.example.org", User: "app", Port: "2222"}, adding: true, host: "db1.example.org", user: "app", port: 2222},
		{name: "a /24 needs no force", in: ACLInput{Host: "10.0.0.0/24", UserAny: true, PortAny: true}, adding: true, host: "10.0.0.0/24"},
		{name: "a /17 needs no force", in: ACLInput{Host: "10.0.0.0/17", UserAny: true, PortAny: true}, adding: true, host: "10.0.0.0/17"},
		{name: "catch-all without a widest prefix", in: ACLInput{Host: "0.0.0.0/0", UserAny: true, PortAny: true}, adding: true, host: "0.0.0.0/0"},
		{name: "catch-all beyond widest_v4_prefix", in: ACLInput{Host: "0.0.0.0/0", UserAny: true, PortAny: true, WidestV4: 24}, adding: true, code: "ERR_INVALID_PARAMETER"},
		{name: "a /17 beyond widest_v4_prefix 24", in: ACLInput{Host: "10.0.0.0/17", UserAny: true, PortAny: true, WidestV4: 24, Force: true}, adding: true, code: "ERR_INVALID_PARAMETER"},
		{name: "a /24 within widest_v4_prefix 24", in: ACLInput{Host: "10.0.0.0/24", UserAny: true, PortAny: true, WidestV4: 24}, adding: true, host: "10.0.0.0/24"},
		{name: "removal ignores widest_v4_prefix", in: ACLInput{Host: "10.0.0.0/8", UserAny: true, PortAny: true, WidestV4: 24}, host: "10.0.0.0/8"},
		{name: "prefix with force", in: ACLInput{Host: "10.0.0.0/24", UserAny: true, PortAny: true, Force: true}, adding: true, host: "10.0.0.0/24"},
		{name: "prefix removal needs no force", in: ACLInput{Host: "10.0.0.0/24", UserAny: true, PortAny: true}, host: "10.0.0.0/24"},
		{name: "host bits set", in: ACLInput{Host: "77.66.55.0/23", UserAny: true, PortAny: true, Force: true}, adding: true, code: "KO_INVALID_IP"},
		{name: "host bits set, /24", in: ACLInput{Host: "10.0.0.1/24", UserAny: true, PortAny: true}, adding: true, code: "KO_INVALID_IP"},
		{name: "bad address", in: ACLInput{Host: "10.0.0.256", UserAny: true, PortAny: true}, code: "KO_INVALID_IP"},
		{name: "not a name", in: ACLInput{Host: "bad;host", UserAny: true, PortAny: true}, code: "KO_INVALID_REMOTE_HOST"},
		{name: "missing host", in: ACLInput{UserAny: true, PortAny: true}, code: "ERR_MISSING_PARAMETER"},
		{name: "port 0", in: ACLInput{Host: "10.0.0.5", UserAny: true, Port: "0"}, code: "KO_INVALID_PORT"},
		{name: "port 70000", in: ACLInput{Host: "10.0.0.5", UserAny: true, Port: "70000"}, code: "KO_INVALID_PORT"},
		{name: "port not a number", in: ACLInput{Host: "10.0.0.5", UserAny: true, Port: "ssh"}, code: "KO_INVALID_PORT"},
		{name: "user with ;", in: ACLInput{Host: "10.0.0.5", User: "root;id", PortAny: true}, code: "KO_INVALID_REMOTE_USER"},
		{name: "user with space", in: ACLInput{Host: "10.0.0.5", User: "ro ot", PortAny: true}, code: "KO_INVALID_REMOTE_USER"},
		{name: "wildcard user in a group list", in: ACLInput{Host: "10.0.0.5", User: "app-*", PortAny: true}, wildcards: true, host: "10.0.0.5", user: "app-*"},
		{name: "wildcard user refused for guests", in: ACLInput{Host: "10.0.0.5", User: "app-*", PortAny: true}, code: "KO_INVALID_REMOTE_USER"},
		{name: "user and user-any", in: ACLInput{Host: "10.0.0.5", User: "root", UserAny: true, PortAny: true}, code: "ERR_INCOMPATIBLE_PARAMETERS"},
		{name: "port and port-any", in: ACLInput{Host: "10.0.0.5", UserAny: true, Port: "22", PortAny: true}, code: "ERR_INCOMPATIBLE_PARAMETERS"},
		{name: "no user", in: ACLInput{Host: "10.0.0.5", PortAny: true}, code: "ERR_MISSING_PARAMETER"},
		{name: "no port", in: ACLInput{Host: "10.0.0.5", UserAny: true}, code: "ERR_MISSING_PARAMETER"},
		{name: "force-key and force-password", in: ACLInput{Host: "10.0.0.5", User: "root", Port: "22", ForceKey: "SHA256:" + strings.Repeat("a", 43), ForcePassword: "$6$abc$def"}, code: "ERR_INCOMPATIBLE_PARAMETERS"},
		{name: "force-key not a fingerprint", in: ACLInput{Host: "10.0.0.5", User: "root", Port: "22", ForceKey: "MD5:aa"}, code: "ERR_INVALID_PARAMETER"},
		{name: "force-password not a hash", in: ACLInput{Host: "10.0.0.5", User: "root", Port: "22", ForcePassword: "hunter2"}, code: "ERR_INVALID_PARAMETER"},
		{name: "force-password hash", in: ACLInput{Host: "10.0.0.5", User: "root", Port: "22", ForcePassword: "$6$Oiq42yZA$abc./"}, host: "10.0.0.5", user: "root", port: 22},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := CheckACL(tt.in, tt.adding, tt.wildcards)
			if tt.code != "" {
				if err == nil || err.Code != tt.code {
					t.Fatalf("got %v, want code %s", err, tt.code)
				}
				if err.Message == "" {
					t.Fatalf("refusal without a sentence")
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected refusal %s: %s", err.Code, err.Message)
			}
			if s.Host.String() != tt.host || s.User != tt.user || s.Port != tt.port {
				t.Fatalf("got %s %q %d, want %s %q %d", s.Host, s.User, s.Port, tt.host, tt.user, tt.port)
			}
		})
	}
}

func TestCovers(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	spec := func(host, user string, port int) ACLSpec {
		h, err := access.ParseHost(host)
		if err != nil {
			t.Fatal(err)
		}
		return ACLSpec{Host: h, User: user, Port: port}
	}
	tests := []struct {
		name  string
		group access.Entry
		guest ACLSpec
		want  bool
	}{
		{"same tuple", access.Entry{Host: "127.0.0.1", User: "g1", Port: 22}, spec("127.0.0.1", "g1", 22), true},
		{"other port", access.Entry{Host: "127.0.0.1", User: "g1", Port: 22}, spec("127.0.0.1", "g1", 222), false},
		{"guest any port, group one port", access.Entry{Host: "127.0.0.1", User: "g1", Port: 22}, spec("127.0.0.1", "g1", 0), false},
		{"other user", access.Entry{Host: "127.0.0.1", User: "g1", Port: 22}, spec("127.0.0.1", "g9", 22), false},
		{"other ip", access.Entry{Host: "127.0.0.1", User: "g1", Port: 22}, spec("127.0.0.9", "g1", 22), false},
		{"group any covers any", access.Entry{Host: "127.0.0.10"}, spec("127.0.0.10", "", 0), true},
		{"address inside prefix", access.Entry{Host: "2.2.4.0/24", Port: 33}, spec("2.2.4.66", "usah", 33), true},
		{"address outside prefix", access.Entry{Host: "2.2.4.0/24"}, spec("2.3.4.1", "", 0), false},
		{"smaller prefix inside", access.Entry{Host: "10.0.0.0/16"}, spec("10.0.1.0/24", "", 0), true},
		{"wider prefix not inside", access.Entry{Host: "10.0.1.0/24"}, spec("10.0.0.0/16", "", 0), false},
		{"user pattern", access.Entry{Host: "10.0.0.5", User: "app-*"}, spec("10.0.0.5", "app-web", 22), true},
		{"user pattern, any user", access.Entry{Host: "10.0.0.5", User: "app-*"}, spec("10.0.0.5", "", 22), false},
		{"name covers itself", access.Entry{Host: "db1.example.org"}, spec("db1.example.org", "root", 22), true},
		{"name does not cover an address", access.Entry{Host: "db1.example.org"}, spec("10.0.0.5", "root", 22), false},
		{"catch-all covers", access.Entry{Host: "0.0.0.0/0"}, spec("192.0.2.1", "root", 22), true},
		{"v4 catch-all does not cover v6", access.Entry{Host: "0.0.0.0/0"}, spec("2001:db8::1", "root", 22), false},
		{"expired entry covers nothing", access.Entry{Host: "127.0.0.1", Expiry: now.Add(-time.Second)}, spec("127.0.0.1", "", 0), false},
	}
	for _, tt := range tests {
		if got := Covers(tt.group, tt.guest, now); got != tt.want {
			t.Errorf("%s: Covers = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestHostPort(t *testing.T) {
	for _, tt := range []struct {
		host string
		port int
		want string
	}{
		{"10.0.0.5", 22, "10.0.0.5"},
		{"10.0.0.5", 2222, "[10.0.0.5]:2222"},
		{"db1.example.org", 22, "db1.example.org"},
		{"2001:db8::1", 22, "2001:db8::1"},
		{"2001:db8::1", 2222, "[2001:db8::1]:2222"},
		{"::ffff:10.0.0.5", 22, "10.0.0.5"},
	} {
		if got := HostPort(tt.host, tt.port); got != tt.want {
			t.Errorf("HostPort(%s, %d) = %q, want %q", tt.host, tt.port, got, tt.want)
		}
	}
}

// The connection test's decision over the kinds of host and user, and --force.
func TestDecideTest(t *testing.T) {
	ip, _ := access.ParseHost("192.0.2.5")
	prefix, _ := access.ParseHost("192.0.2.0/24")
	name, _ := access.ParseHost("srv.example.org")
	for _, tc := range []struct {
		host  access.Host
		user  string
		force bool
		want  TestStep
	}{
		{ip, "root", false, TestConnect},
		{ip, "root", true, TestForced},
		{ip, "", false, TestMagic},
		{ip, "app-*", false, TestMagic},
		{ip, "db?", false, TestMagic},
		{ip, access.ProtocolUser(access.ProtoSFTP), false, TestMagic},
		{prefix, "root", false, TestSubnet},
		{prefix, "root", true, TestForced},
		{name, "root", false, TestNotAHost},
		{name, "root", true, TestForced},
	} {
		if got := DecideTest(ACLSpec{Host: tc.host, User: tc.user, Port: 22}, tc.force); got != tc.want {
			t.Errorf("DecideTest(%s, %q, force=%v) = %v, want %v", tc.host, tc.user, tc.force, got, tc.want)
		}
	}
}

// FuzzCheckACL: whatever a user types as --host, --user and --port, CheckACL answers a valid
// spec or a coded refusal, never a panic, and a valid spec's host has no host bits set.
func FuzzCheckACL(f *testing.F) {
	f.Add("10.0.0.0/24", "root", "22", 0)
	f.Add("10.0.0.1/24", "*", "*", 24)
	f.Add("0.0.0.0/0", "app-*", "2222", 8)
	f.Add("srv.example.org", "a;b", "0", 0)
	f.Add("::ffff:10.0.0.0/104", "", "", 0)
	f.Fuzz(func(t *testing.T, host, user, port string, widest int) {
		s, err := CheckACL(ACLInput{Host: host, User: user, Port: port, UserAny: user == "", PortAny: port == "", WidestV4: widest % 33}, true, true)
		if err != nil {
			if err.Code == "" || err.Message == "" {
				t.Fatalf("refusal without code or sentence: %+v", err)
			}
			return
		}
		if (s.Host.Kind == access.HostPrefix || s.Host.Kind == access.HostIP) && s.Host.Prefix.Masked() != s.Host.Prefix {
			t.Fatalf("%q accepted with host bits set", host)
		}
		if w := widest % 33; w > 0 && s.Host.Kind == access.HostPrefix && s.Host.Prefix.Addr().Is4() && s.Host.Prefix.Bits() < w {
			t.Fatalf("%q wider than /%d accepted", host, w)
		}
	})
}
