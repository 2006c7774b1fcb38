package e2e

import (
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// TestInteractiveSSHAlone: typing `ssh` alone at the interactive prompt used to panic (index out
// of range) and stop the whole server. Now it prints the usage, the same session goes on, and
// another session is untouched.
func TestInteractiveSSHAlone(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	bobKey := b.CreateAccount("bob")
	other := b.SSHTerminal(b.AdminKey, "admin", 100, 30, "-i")
	ooff := other.Expect(0, "admin@gatehouse(master)> ", 10*time.Second)

	term := b.SSHTerminal(bobKey, "bob", 100, 30, "-i")
	off := term.Expect(0, "bob@gatehouse(master)> ", 10*time.Second)
	for _, line := range []string{"ssh", "ssh   ", "ssh -p 22"} {
		term.Send(line + "\r")
		off = term.Expect(off, "bob@gatehouse(master)> ", 5*time.Second)
	}
	if !strings.Contains(term.Output(), "Usage: ssh [user@]host") {
		t.Fatalf("no usage line after `ssh` alone:\n%s", term.Output())
	}
	term.Send("info\r")
	term.Expect(off, "You are bob on gatehouse", 5*time.Second)

	other.Send("info\r")
	other.Expect(ooff, "You are admin on gatehouse", 5*time.Second)
	if r := b.Admin("--osh", "info"); r.Exit != 0 {
		t.Fatalf("a new connection after the line: exit %d: %s", r.Exit, r.Stderr)
	}
}
