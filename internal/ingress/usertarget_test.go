package ingress

import (
	"strings"
	"testing"

	"gatehouse/internal/access"
	"gatehouse/internal/osh"
)

// TestParseUserTarget: ACCOUNT:USER@HOST[:PORT] whole and valid, or refused; a name without ':'
// is an account alone. Injection attempts (extra @, colons, spaces, NUL, options, long names)
// are refused, never guessed.
func TestParseUserTarget(t *testing.T) {
	for _, c := range []struct {
		name       string
		ok         bool
		acct, user string
		host       string
		port       int
	}{
		{"alice", true, "alice", "", "", 0},
		{"alice:root@10.0.0.5", true, "alice", "root", "10.0.0.5", 22},
		{"alice:root@10.0.0.5:2022", true, "alice", "root", "10.0.0.5", 2022},
		{"alice:root@db1.example.com:22", true, "alice", "root", "db1.example.com", 22},
		{"alice:git@db1", true, "alice", "git", "db1", 22},
		{"alice:root@[2001:db8::1]:2022", true, "alice", "root", "2001:db8::1", 2022},
		{"alice:root@[::1]", true, "alice", "root", "::1", 22},
		{"alice:root@2001:db8::1", true, "alice", "root", "2001:db8::1", 22},
		{"alice:root@10.0.0.5:65535", true, "alice", "root", "10.0.0.5", 65535},
		// refused
		{"alice:", false, "", "", "", 0},
		{"alice:10.0.0.5", false, "", "", "", 0}, // the remote user is required
		{"alice:root@", false, "", "", "", 0},
		{":root@10.0.0.5", false, "", "", "", 0},
		{"a:root@10.0.0.5", false, "", "", "", 0},              // account too short
		{"root:root@10.0.0.5", false, "", "", "", 0},           // reserved account
		{"alice:root@10.0.0.5:0", false, "", "", "", 0},        // port 0
		{"alice:root@10.0.0.5:65536", false, "", "", "", 0},    // port too big
		{"alice:root@10.0.0.5:+22", false, "", "", "", 0},      // signed port
		{"alice:root@10.0.0.5:22:23", false, "", "", "", 0},    // two ports
		{"alice:root@10.0.0.5: 22", false, "", "", "", 0},      // space
		{"alice:root@10.0.0.5:000022", false, "", "", "", 0},   // over 5 digits
		{"alice:root@db1@db2", false, "", "", "", 0},           // extra @
		{"alice:ro@ot@10.0.0.5", false, "", "", "", 0},         // extra @
		{"alice:bob:root@10.0.0.5", false, "", "", "", 0},      // extra colon in the user
		{"alice:root@10.0.0.0/24", false, "", "", "", 0},       // a prefix
		{"alice:root@*.example.com", false, "", "", "", 0},     // a wildcard
		{"alice:root@host;id", false, "", "", "", 0},           // a shell word
		{"alice:root@db1 -p 23", false, "", "", "", 0},         // spaces
		{"alice:-oProxyCommand=x@db1", false, "", "", "", 0},   // an option as the user
		{"alice:root@--osh", false, "", "", "", 0},             // an option as the host
		{"alice:root@db1\x00", false, "", "", "", 0},           // NUL
		{"alice:ro\x00ot@db1", false, "", "", "", 0},           // NUL
		{"al ice:root@db1", false, "", "", "", 0},              // space in the account
		{"alice:root@[10.0.0.5]:22", false, "", "", "", 0},     // brackets around IPv4
		{"alice:root@[::1", false, "", "", "", 0},              // unclosed
		{"alice:root@[::1]x", false, "", "", "", 0},            // garbage after ]
		{"alice:root@fe80::1%eth0", false, "", "", "", 0},      // a zone
		{"alice:root@[fe80::1%eth0]:22", false, "", "", "", 0}, // a zone
		{"alice:root@" + strings.Repeat("a", 300), false, "", "", "", 0},
		{"alice:" + strings.Repeat("r", 200) + "@db1", false, "", "", "", 0},
		{"alice:root@" + strings.Repeat("a.", 32*1024), false, "", "", "", 0}, // 64 kB
	} {
		ut, err := ParseUserTarget(c.name)
		if (err == nil) != c.ok {
			t.Errorf("ParseUserTarget(%.60q): err %v, want ok=%v", c.name, err, c.ok)
			continue
		}
		if !c.ok {
			continue
		}
		if ut.Account != c.acct || ut.User != c.user || ut.Target.Host != c.host || ut.Target.Port != c.port {
			t.Errorf("ParseUserTarget(%q) = %+v", c.name, ut)
		}
	}
}

// FuzzParseUserTarget: whatever a client sends as its user name, an accepted target is a valid
// account, a valid remote user and a host that becomes words of a line which parses back to
// exactly that target (nothing smuggled into the bastion's command line).
func FuzzParseUserTarget(f *testing.F) {
	for _, s := range []string{"alice", "alice:root@10.0.0.5", "alice:root@[::1]:2022", "alice:root@db1:22",
		"alice:root@db1@db2", "alice:root@db1 --osh info", "alice:root@-p", "alice::@:", "alice:root@2001:db8::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		ut, err := ParseUserTarget(name)
		if err != nil {
			return
		}
		if !ut.HasTarget() {
			if ut.Account != name {
				t.Fatalf("a name without target changed: %q -> %q", name, ut.Account)
			}
			return
		}
		if access.ValidateAccountName(ut.Account) != nil || access.ValidateRemoteUser(ut.User, false) != nil {
			t.Fatalf("invalid parts accepted from %q: %+v", name, ut)
		}
		if ut.Target.Port < 1 || ut.Target.Port > 65535 {
			t.Fatalf("bad port from %q: %d", name, ut.Target.Port)
		}
		r, err := osh.ParseLine(JumpLine(ut.User, ut.Target, "id"))
		if err != nil || r.User != ut.User || r.Host != ut.Target.Host || r.Port != ut.Target.Port || r.Command() != "id" || r.Osh != "" {
			t.Fatalf("%q: the line does not parse back: %+v %v", name, r, err)
		}
	})
}
