package pamverify

import (
	"errors"
	"strings"
	"testing"

	"gatehouse/internal/config"
)

func TestSudoCommand(t *testing.T) {
	for _, c := range []struct {
		line, want string
		ok         bool
	}{
		{"sudo -S systemctl restart nginx", "systemctl restart nginx", true},
		{"/usr/bin/sudo systemctl status", "systemctl status", true},
		{"sudo -u root -- systemctl restart x", "systemctl restart x", true},
		{"sudo -Su root systemctl", "systemctl", true},
		{"sudo -uroot systemctl", "systemctl", true},
		{"sudo --user root systemctl", "systemctl", true},
		{"sudo --user=root -E systemctl", "systemctl", true},
		{"sudo -g adm -p x -C 4 -D /tmp -h h -r r -t t -T 5 -U u systemctl", "systemctl", true},
		{"sudo FOO=bar systemctl", "systemctl", true},
		{"sudo -- -weird", "-weird", true},
		{"sudo -v", "", true},
		{"sudo -S", "", true},
		{"sudo -u", "", false}, // the user is missing: unreadable
		{"sudo --user", "", false},
		{"su -c x", "", false},
		{"", "", false},
	} {
		got, ok := SudoCommand(c.line)
		if got != c.want || ok != c.ok {
			t.Errorf("SudoCommand(%q) = %q, %v; want %q, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

// TestPickFactor: the first matching rule wins, else the server's factor (TOTP when unset); a
// sudo line that cannot be read refuses when a command rule would have to judge it.
func TestPickFactor(t *testing.T) {
	srv := config.PAMServer{Factor: "webhook", Rules: []config.PAMRule{
		{Command: "systemctl status *", Factor: "totp"},
		{Command: "systemctl *", Factor: "approval"},
		{Service: "login", Factor: "totp"},
		{Service: "su", Command: "*", Factor: "approval"},
	}}
	for _, c := range []struct {
		srv              config.PAMServer
		service, command string
		want             string
		err              error
	}{
		{config.PAMServer{}, "sudo", "sudo true", "totp", nil},
		{config.PAMServer{Factor: "approval"}, "sudo", "sudo true", "approval", nil},
		{srv, "sudo", "sudo -S true", "webhook", nil},
		{srv, "sudo", "sudo -S systemctl restart nginx", "approval", nil},
		{srv, "sudo", "sudo -S /usr/bin/systemctl restart nginx", "approval", nil},
		{srv, "sudo", "sudo -S /tmp/x/systemctl restart nginx", "approval", nil},
		{srv, "sudo", "sudo -u root -- systemctl restart nginx", "approval", nil},
		{srv, "sudo", "sudo systemctl status nginx", "totp", nil},
		{srv, "sudo", "sudo systemctlx restart", "webhook", nil},
		{srv, "sudo", "sudo -u", "", ErrCommandUnclear},
		{srv, "sudo", "", "webhook", nil},
		{srv, "login", "", "totp", nil},
		{srv, "sshd", "", "webhook", nil},
		{srv, "su", "su -c id", "approval", nil},
		{srv, "su", "", "approval", nil}, // "*" matches no command too
	} {
		got, err := PickFactor(c.srv, c.service, c.command)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("PickFactor(%v, %q, %q) = %q, %v; want %q, %v", c.srv.Rules != nil, c.service, c.command, got, err, c.want, c.err)
		}
	}
}

func TestCommandMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, command string
		want             bool
	}{
		{"*", "", true},
		{"systemctl *", "systemctl restart x", true},
		{"systemctl *", "systemctl", false},
		{"systemctl*", "systemctl", true},
		{"systemctl  *", "systemctl restart", true},
		{"/usr/bin/apt*", "/usr/bin/apt-get install x", true},
		{"/usr/bin/apt*", "apt-get install x", false},
		{"apt*", "/usr/bin/apt-get install x", true},
		{"*rm -rf*", "rm -rf /", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
	} {
		if got := CommandMatches(c.pattern, c.command); got != c.want {
			t.Errorf("CommandMatches(%q, %q) = %v", c.pattern, c.command, got)
		}
	}
}

// FuzzSudoCommand: the command the module sends is the caller's; reading it never panics,
// the command found is a suffix of the line's words, and PickFactor always answers a factor or
// an error.
func FuzzSudoCommand(f *testing.F) {
	for _, s := range []string{"sudo -S systemctl restart nginx", "sudo -u", "sudo -- x", "sudo --user=a b", "sudo A=b c", "", "sudo -", "sudo ---", "sudo -uu -u"} {
		f.Add(s)
	}
	srv := config.PAMServer{Rules: []config.PAMRule{{Command: "systemctl *", Factor: "approval"}}}
	f.Fuzz(func(t *testing.T, line string) {
		cmd, ok := SudoCommand(line)
		if ok && !strings.HasSuffix(strings.Join(strings.Fields(line), " "), cmd) {
			t.Fatalf("%q: command %q is not the line's tail", line, cmd)
		}
		factor, err := PickFactor(srv, "sudo", line)
		if (err == nil) == (factor == "") {
			t.Fatalf("%q: factor %q, err %v", line, factor, err)
		}
	})
}
