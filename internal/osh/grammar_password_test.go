package osh

import "testing"

// -P / --self-password and --password GROUP, before or after the host, as The Bastion's osh.pl.
func TestParsePasswordAutologin(t *testing.T) {
	for _, tc := range []struct {
		line  string
		self  bool
		group string
		cmd   string
		bad   bool
	}{
		{line: "-P root@10.0.0.1", self: true},
		{line: "--self-password root@10.0.0.1 uptime", self: true, cmd: "uptime"},
		{line: "root@10.0.0.1 -P -p 2222", self: true},
		{line: "--password web root@10.0.0.1", group: "web"},
		{line: "root@10.0.0.1 --password=web", group: "web"},
		{line: "--password web --password db root@10.0.0.1", bad: true},
		{line: "root@10.0.0.1 --password", bad: true},
		{line: "root@10.0.0.1 uptime -P", cmd: "uptime -P"}, // after the remote command: its own
	} {
		r, err := ParseLine(tc.line)
		if tc.bad {
			if err == nil {
				t.Errorf("%q accepted: %+v", tc.line, r)
			}
			continue
		}
		if err != nil || r.SelfPassword != tc.self || r.PasswordGroup != tc.group || r.Command() != tc.cmd {
			t.Errorf("%q: %+v %v", tc.line, r, err)
		}
	}
}
