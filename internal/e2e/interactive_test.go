package e2e

import (
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

func TestInteractiveMode(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "bastionName = \"bastion1\"\ninteractiveModeTimeout = 300\n"})
	term := b.SSHTerminal(b.AdminKey, "admin", 100, 30, "-i")
	off := term.Expect(0, "Welcome to bastion1 interactive mode", 10*time.Second)
	off = term.Expect(off, "admin@bastion1(master)> ", 5*time.Second)
	term.Send("info\r")
	off = term.Expect(off, "You are admin on bastion1", 5*time.Second)
	off = term.Expect(off, "</info>", 5*time.Second)
	// Tab completion: "selfListIn<tab>" completes to the one command it can be.
	term.Send("selfListIn\t")
	off = term.Expect(off, "selfListIngressKeys ", 5*time.Second)
	term.Send("\r")
	off = term.Expect(off, "ingress key(s)", 5*time.Second)
	// Output lines end in CRLF on a terminal.
	if !strings.Contains(term.Output(), "You are admin on bastion1 (gatehouse 0.1.0).\r\n") {
		t.Fatalf("lines do not end in CRLF: %q", term.Output())
	}
	// Unknown commands are refused in the prompt too.
	term.Send("frobnicate\r")
	off = term.Expect(off, "Unknown command", 5*time.Second)
	// The idle timeout ends the session: five minutes of the bastion's clock, which the test moves
	// once the prompt is back (the timer is armed as the prompt is drawn, so move it until seen).
	off = term.Expect(off, "admin@bastion1(master)> ", 5*time.Second)
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(term.Output()[off:], "Idle timeout of 300 seconds reached"); {
		if time.Now().After(deadline) {
			t.Fatalf("no idle timeout after the clock moved:\n%s", term.Output()[off:])
		}
		b.Clock.Advance(301 * time.Second)
		time.Sleep(20 * time.Millisecond)
	}
	if code := term.Wait(5 * time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}

func TestInteractiveExitAndDefault(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	// No command at all: interactive by default.
	term := b.SSHTerminal(b.AdminKey, "admin", 80, 24)
	off := term.Expect(0, "admin@gatehouse(master)> ", 10*time.Second)
	term.Send("exit\r")
	if code := term.Wait(5 * time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	_ = off
	// Disabled interactive mode: -i is refused with The Bastion's exit code.
	b2 := testenv.Start(t, testenv.Options{Config: "interactiveModeAllowed = false\n"})
	r := b2.Admin("--json-greppable", "-i")
	if r.Exit != 114 || r.Code() != "KO_INTERACTIVE_DISABLED" {
		t.Fatalf("disabled -i: exit %d code %s", r.Exit, r.Code())
	}
}

// TestInteractiveSeesFreezeAndRevoke: a change made by an admin reaches an interactive session
// at its next line, not at its next login.
func TestInteractiveSeesFreezeAndRevoke(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	bobKey := b.CreateAccount("bob")
	b.MustOK("--osh", "accountGrantCommand", "--account", "bob", "--command", "accountList")
	term := b.SSHTerminal(bobKey, "bob", 100, 30, "-i")
	off := term.Expect(0, "bob@gatehouse(master)> ", 10*time.Second)
	term.Send("accountList\r")
	off = term.Expect(off, "account(s).", 5*time.Second)
	b.MustOK("--osh", "accountRevokeCommand", "--account", "bob", "--command", "accountList")
	term.Send("accountList\r")
	off = term.Expect(off, "requires you to be specifically granted", 5*time.Second)
	b.MustOK("--osh", "accountFreeze", "--account", "bob", "--reason", "left the company")
	term.Send("info\r")
	term.Expect(off, "frozen (left the company)", 5*time.Second)
	if code := term.Wait(5 * time.Second); code != 131 {
		t.Fatalf("exit status %d, want 131", code)
	}
}
