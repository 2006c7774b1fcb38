package record

import (
	"regexp"
	"strings"
	"testing"
)

// TestStealthMatch: output goes unrecorded only for a plain command the whole of which the
// pattern matches; anything that could chain a second command is recorded.
func TestStealthMatch(t *testing.T) {
	rsync := regexp.MustCompile(`^rsync --server`)      // as The Bastion's documentation writes it
	rsyncAll := regexp.MustCompile(`rsync --server .*`) // what our documentation says to write
	scpOrRsync := regexp.MustCompile(`(rsync --server|scp -[tf]) .*`)
	anything := regexp.MustCompile(`.*`)
	for _, tc := range []struct {
		pattern *regexp.Regexp
		command string
		stealth bool
	}{
		{nil, "rsync --server -vlogDtpre.iLsfxCIvu . /tmp/x", false},
		{rsync, "rsync --server -vlogDtpre.iLsfxCIvu . /tmp/x", false}, // not anchored at the end: no
		{rsync, "rsync --server", true},
		{rsyncAll, "rsync --server -vlogDtpre.iLsfxCIvu . /tmp/x", true},
		{rsyncAll, "rsync --server -vlogDtpre.iLsfxCIvu . /srv/data_2026-12-01/a,b@c+d%e:f=g", true},
		{rsyncAll, "xrsync --server . /tmp", false},
		{rsyncAll, "echo; rsync --server . /tmp", false},
		{rsyncAll, "rsync --server . /tmp; echo SECRET", false},
		{rsyncAll, "rsync --server . /tmp && id", false},
		{rsyncAll, "rsync --server . /tmp || id", false},
		{rsyncAll, "rsync --server . /tmp | sh", false},
		{rsyncAll, "rsync --server . $(id)", false},
		{rsyncAll, "rsync --server . `id`", false},
		{rsyncAll, "rsync --server . /tmp\nid", false},
		{rsyncAll, "rsync --server . /tmp\rid", false},
		{rsyncAll, "rsync --server . /tmp\tx", false},
		{rsyncAll, "rsync --server . /tmp > /etc/x", false},
		{rsyncAll, "rsync --server . < /etc/shadow", false},
		{rsyncAll, "rsync --server . /tmp & id", false},
		{rsyncAll, "rsync --server . '/tmp/a b'", false},
		{rsyncAll, "rsync --server . \"/tmp\"", false},
		{rsyncAll, "rsync --server . /tmp/*", false},
		{rsyncAll, "rsync --server . ~/x", false},
		{rsyncAll, "rsync --server . {a,b}", false},
		{rsyncAll, "rsync --server . /tmp\\;id", false},
		{rsyncAll, "rsync --server . /tmp/caf\u00e9", false},
		{rsyncAll, "rsync --server . /tmp\x00id", false},
		{scpOrRsync, "scp -t /tmp/file", true},
		{scpOrRsync, "scp -f /etc/hosts", true},
		{scpOrRsync, "scp -t /tmp/file;id", false},
		{anything, "", false}, // no remote command (a shell, an --osh command) is never stealth
		{anything, "ls -l", true},
		{anything, "ls -l; id", false},
		{regexp.MustCompile(`a|rsync --server .*`), "rsync --server . /x", true},
		{regexp.MustCompile(`a|b`), "ab", false},
	} {
		if got := StealthMatch(tc.pattern, tc.command); got != tc.stealth {
			p := "<nil>"
			if tc.pattern != nil {
				p = tc.pattern.String()
			}
			t.Errorf("StealthMatch(%q, %q) = %v, want %v", p, tc.command, got, tc.stealth)
		}
	}
}

// FuzzStealthMatch: whatever the command, one with a shell metacharacter is never stealth, and
// a stealth command is matched whole.
func FuzzStealthMatch(f *testing.F) {
	for _, s := range []string{"rsync --server . /tmp", "rsync --server . /tmp; echo SECRET", "rsync --server $(id)", "scp -t x\nid", ""} {
		f.Add(s)
	}
	pattern := regexp.MustCompile(`^rsync --server.*|scp -t`)
	whole := regexp.MustCompile(`^(?:^rsync --server.*|scp -t)$`)
	f.Fuzz(func(t *testing.T, command string) {
		got := StealthMatch(pattern, command)
		if !got {
			return
		}
		if strings.ContainsAny(command, ";&|$`()<>\n\r\t'\"\\*?[]{}~!#") {
			t.Fatalf("%q with a metacharacter is stealth", command)
		}
		if !whole.MatchString(command) {
			t.Fatalf("%q is stealth but the pattern does not match it whole", command)
		}
	})
}
