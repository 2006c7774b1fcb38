package e2e

import (
	"strings"
	"testing"

	"gatehouse/internal/testenv"
)

// Red team, as a careless admin would type it, with the real ssh client: a value that the
// command accepts must not lock the account out, and a value it refuses must change nothing.

// TestRedteamMaxInactiveDaysHuge: `--max-inactive-days 200000` ("about never") was stored as
// given; the inactivity check multiplied it into a time.Duration that wrapped negative, and
// the account was refused at its next login ("no login for more than 200000 days"). Now the
// value is refused past 100 years by accountModify and accountCreate, nothing changes, and the
// account still logs in.
func TestRedteamMaxInactiveDaysHuge(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("bob")
	if r := b.SSH(key, "bob", "--json-greppable", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("first login: exit %d %s", r.Exit, r.Stdout)
	}
	for _, v := range []string{"200000", "106752", "99999999999"} {
		r := b.Admin("--json-greppable", "--osh", "accountModify", "--account", "bob", "--osh-only", "yes", "--max-inactive-days", v)
		if r.Exit == 0 || r.Code() != "ERR_INVALID_PARAMETER" {
			t.Errorf("accountModify --max-inactive-days %s: exit %d code %q, want a refusal", v, r.Exit, r.Code())
		}
		r = b.Admin("--json-greppable", "--osh", "accountCreate", "--account", "carol"+v, "--no-key", "--max-inactive-days", v)
		if r.Exit == 0 || r.Code() != "ERR_INVALID_PARAMETER" {
			t.Errorf("accountCreate --max-inactive-days %s: exit %d code %q, want a refusal", v, r.Exit, r.Code())
		}
	}
	info := b.MustOK("--osh", "accountInfo", "--account", "bob").Stdout
	if strings.Contains(info, `"osh_only":1`) || !strings.Contains(info, `"max_inactive_days":null`) {
		t.Errorf("a refused accountModify changed bob: %s", info)
	}
	if r := b.Admin("--json-greppable", "--osh", "accountList"); strings.Contains(r.Stdout, "carol") {
		t.Errorf("a refused accountCreate created an account: %s", r.Stdout)
	}
	// The largest accepted value keeps the account usable.
	b.MustOK("--osh", "accountModify", "--account", "bob", "--max-inactive-days", "36500")
	if r := b.SSH(key, "bob", "--json-greppable", "--osh", "info"); r.Exit != 0 || r.Code() != "OK" {
		t.Errorf("bob with --max-inactive-days 36500: exit %d code %q %s", r.Exit, r.Code(), r.Stdout)
	}
}

// TestRedteamKeyCommentCannotDriveTheAdminsTerminal: bob adds a key whose comment holds escape
// sequences (OSC 0 sets the window title, CSI 2J clears the screen, OSC 52 writes the
// clipboard); an admin listing bob's keys in human output got them raw, and their terminal
// acted on them. Now human output writes controls as text; JSON keeps the comment exactly.
func TestRedteamKeyCommentCannotDriveTheAdminsTerminal(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("bob")
	_, pub := testenv.NewKey(t, "ed25519", "second")
	comment := "ev\x1b]0;PWNED\x07il\x1b[2J\x1b]52;c;ZXZpbA==\x07\u009b31m"
	line := strings.Join(strings.Fields(pub)[:2], " ") + " " + comment
	if r := b.SSH(key, "bob", "--json-greppable", "--osh", "selfAddIngressKey", "--public-key", "'"+line+"'"); r.Code() != "OK" {
		t.Fatalf("selfAddIngressKey: exit %d %q %s", r.Exit, r.Code(), r.Stdout)
	}
	for _, quiet := range [][]string{nil, {"--quiet"}} {
		r := b.Admin(append(quiet, "--osh", "accountListIngressKeys", "--account", "bob")...)
		if r.Exit != 0 || !strings.Contains(r.Stdout, `ev\x1b]0;PWNED\x07il\x1b[2J`) {
			t.Errorf("%v: exit %d, the comment is not shown as text: %q", quiet, r.Exit, r.Stdout)
		}
		if strings.ContainsAny(r.Stdout, "\x1b\x07\u009b") {
			t.Errorf("%v: raw control characters reach the admin's terminal: %q", quiet, r.Stdout)
		}
	}
	r := b.MustOK("--osh", "accountListIngressKeys", "--account", "bob")
	if keys, _ := jsonValue(r, "value", "keys").([]any); len(keys) != 2 || !strings.Contains(r.Stdout, `ev\u001b]0;PWNED\u0007il\u001b[2J`) {
		t.Errorf("the JSON answer does not keep the comment exactly: %s", r.Stdout)
	}
}
