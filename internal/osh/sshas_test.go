package osh

import (
	"testing"
)

// TestSSHAsDecision: every combination of the decision's inputs, against The Bastion's order.
func TestSSHAsDecision(t *testing.T) {
	for _, admin := range []bool{false, true} {
		for _, withOsh := range []bool{false, true} {
			for _, host := range []bool{false, true} {
				for _, target := range []string{"bob", "admin", "bad name", "", "-x"} {
					for _, found := range []bool{false, true} {
						in := SSHAsInput{Caller: "admin", CallerAdmin: admin, WithOsh: withOsh, HasHost: host, Target: target, TargetFound: found}
						valid := target == "bob" || target == "admin"
						want, exit := "", 0
						switch {
						case !admin:
							want, exit = "KO_RESTRICTED_COMMAND", 106
						case withOsh:
							want, exit = "KO_CONFLICTING_OPTIONS", 115
						case !valid || !found:
							want, exit = "KO_INVALID_ACCOUNT", 107
						case !host:
							want, exit = "KO_NO_HOST", 112
						}
						r := SSHAsDecision(in)
						switch {
						case want == "" && r != nil:
							t.Errorf("%+v refused: %v", in, r)
						case want != "" && (r == nil || r.Code != want || r.Exit != exit):
							t.Errorf("%+v = %+v, want %s/%d", in, r, want, exit)
						}
					}
				}
			}
		}
	}
}

func TestConnectionOptionsGrammar(t *testing.T) {
	for _, tc := range []struct {
		line string
		want func(Request) bool
		err  bool
	}{
		{"--wait root@srv -p 2222 uptime", func(r Request) bool { return r.Wait && r.Host == "srv" && r.Port == 2222 }, false},
		{"--ssh-as bob root@srv", func(r Request) bool { return r.SSHAs == "bob" && r.User == "root" }, false},
		{"--ssh-as=bob srv", func(r Request) bool { return r.SSHAs == "bob" && r.Host == "srv" }, false},
		{"--ssh-as", nil, true},
		{"-P --fallback-password-delay 0 root@srv", func(r Request) bool {
			return r.SelfPassword && r.FallbackPasswordDelay != nil && *r.FallbackPasswordDelay == 0
		}, false},
		{"--fallback-password-delay=10 --password g srv", func(r Request) bool {
			return r.PasswordGroup == "g" && r.FallbackPasswordDelay != nil && *r.FallbackPasswordDelay == 10
		}, false},
		{"-P srv", func(r Request) bool { return r.FallbackPasswordDelay == nil }, false},
		{"--fallback-password-delay -1 srv", nil, true},
		{"--fallback-password-delay 61 srv", nil, true},
		{"--fallback-password-delay x srv", nil, true},
		{"--fallback-password-delay 1 --fallback-password-delay 2 srv", nil, true},
		{"--ssh-as a --ssh-as b srv", nil, true},
		{"--never-escape -q root@srv -- id", func(r Request) bool { return r.NeverEscape && r.Quiet && !r.AlwaysEscape }, false},
		{"--always-escape --never-escape srv", func(r Request) bool { return r.AlwaysEscape && r.NeverEscape }, false},
		{"srv --wait", func(r Request) bool { return r.Wait && len(r.RemoteCommand) == 0 }, false}, // options before "--", as getopt
		{"srv -- --wait", func(r Request) bool { return !r.Wait && r.Command() == "--wait" }, false},
	} {
		r, err := ParseLine(tc.line)
		if (err != nil) != tc.err || (err == nil && !tc.want(r)) {
			t.Errorf("ParseLine(%q) = %+v, %v", tc.line, r, err)
		}
	}
}
