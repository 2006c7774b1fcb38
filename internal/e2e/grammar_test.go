package e2e

import (
	"strings"
	"testing"

	"gatehouse/internal/testenv"
)

// TestGrammarBastionForms: the forms of The Bastion's command line that its users and its own
// documentation write, typed with the real ssh client.
func TestGrammarBastionForms(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	for _, tc := range []struct {
		words   []string
		command string
	}{
		{[]string{"-osh", "info", "--json-greppable"}, "info"},
		{[]string{"--json-greppable", "-osh"}, "help"},
		{[]string{"--osh", "--json-greppable"}, "help"},
	} {
		r := b.Admin(tc.words...)
		j := r.JSON()
		if r.Exit != 0 || j["command"] != tc.command || j["error_code"] != "OK" {
			t.Errorf("%q: exit %d %v\n%s%s", tc.words, r.Exit, j, r.Stdout, r.Stderr)
		}
	}
	// --proactive-mfa after the command is The Bastion's global option, not the command's: the
	// MFA phase starts (admin has no factor, so it asks to set one up) instead of a bad option.
	r := b.Admin("--json-greppable", "--osh", "help", "--proactive-mfa")
	if !strings.Contains(r.Stdout+r.Stderr, "As proactive MFA has been requested") || r.Code() != "KO_MFA_ANY_SETUP_REQUIRED" {
		t.Errorf("--proactive-mfa after the command: exit %d %s%s", r.Exit, r.Stdout, r.Stderr)
	}
	// Bare -osh without JSON prints the help itself.
	if r := b.Admin("-osh"); r.Exit != 0 || !strings.Contains(r.Stdout, "accountList") {
		t.Errorf("bare -osh: exit %d %s%s", r.Exit, r.Stdout, r.Stderr)
	}
}

// TestGrammarOptionsWithoutHost: global options alone are no request for the interactive mode:
// The Bastion answers 112 KO_NO_HOST, and a script waiting for JSON gets it.
func TestGrammarOptionsWithoutHost(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	for _, words := range [][]string{{"--json-greppable"}, {"--quiet", "--json-greppable"}} {
		r := b.Admin(words...)
		if r.Exit != 112 || r.Code() != "KO_NO_HOST" || !strings.Contains(r.Stdout+r.Stderr, "no host to connect to") {
			t.Errorf("%q: exit %d %s%s", words, r.Exit, r.Stdout, r.Stderr)
		}
	}
}

// TestGrammarCommandHelp: `--osh CMD --help` (or -h alone) prints the command's usage and its
// options with their help strings, runs nothing, and exits 0; it stays behind the grants.
func TestGrammarCommandHelp(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	bobKey := b.CreateAccount("bob")
	for _, words := range [][]string{{"--osh", "accountDelete", "--help"}, {"-osh", "accountDelete", "-h"},
		{"--osh", "accountDelete", "--account", "bob", "--help"}} {
		r := b.Admin(words...)
		if r.Exit != 0 || !strings.Contains(r.Stdout, "Usage: --osh accountDelete") ||
			!strings.Contains(r.Stdout, "--no-confirm") || !strings.Contains(r.Stdout, "do not ask to type the account name") {
			t.Errorf("%q: exit %d %s%s", words, r.Exit, r.Stdout, r.Stderr)
		}
	}
	r := b.Admin("--json-greppable", "--osh", "accountDelete", "--help")
	if j := r.JSON(); r.Exit != 0 || j["command"] != "accountDelete" || j["error_code"] != "OK" {
		t.Errorf("help JSON: exit %d %v", r.Exit, j)
	}
	// Nothing ran: bob is still there.
	if r := b.SSH(bobKey, "bob", "--json-greppable", "--osh", "info"); r.Exit != 0 {
		t.Errorf("bob after accountDelete --help: exit %d %s", r.Exit, r.Stdout)
	}
	// A restricted command's help is as restricted as the command.
	if r := b.SSH(bobKey, "bob", "--json-greppable", "--osh", "accountDelete", "--help"); r.Exit != 106 || r.Code() != "KO_RESTRICTED_COMMAND" {
		t.Errorf("bob asking accountDelete --help: exit %d %s", r.Exit, r.Stdout)
	}
}
