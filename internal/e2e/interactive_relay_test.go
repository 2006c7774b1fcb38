package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// TestInteractiveKeystrokeAfterRelay: what is typed at the prompt after a connection to a server
// ended reaches the prompt whole (the relay's reader of the input used to outlive the relay and
// eat the first keystroke: `info` ran as `nfo`, `exit` had to be typed twice).
func TestInteractiveKeystrokeAfterRelay(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "bastionName = \"bastion1\"\n"})
	sshd, aliceKey := targetSetup(t, b)
	term := b.SSHTerminal(aliceKey, "alice", 100, 30, "-i")
	off := term.Expect(0, "alice@bastion1(master)> ", 10*time.Second)
	term.Send(fmt.Sprintf("%s@127.0.0.1 -p %d true\r", sshd.User, sshd.Port))
	off = term.Expect(off, "Connecting...", 10*time.Second)
	off = term.Expect(off, "alice@bastion1(master)> ", 10*time.Second)
	term.Send("info\r")
	off = term.Expect(off, "You are alice on bastion1", 5*time.Second)
	off = term.Expect(off, "alice@bastion1(master)> ", 5*time.Second)
	term.Send("exit\r")
	if code := term.Wait(5 * time.Second); code != 0 {
		t.Fatalf("exit status %d after one exit; output %q", code, term.Output()[off:])
	}
}

// TestInteractiveCtrlCAndCtrlD: Ctrl-C at the prompt clears the line and the session goes on;
// Ctrl-D on an empty line leaves.
func TestInteractiveCtrlCAndCtrlD(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "bastionName = \"bastion1\"\n"})
	term := b.SSHTerminal(b.AdminKey, "admin", 100, 30, "-i")
	off := term.Expect(0, "admin@bastion1(master)> ", 10*time.Second)
	term.Send("frobnicate\x03")
	off = term.Expect(off, "admin@bastion1(master)> ", 5*time.Second)
	term.Send("info\r")
	off = term.Expect(off, "You are admin on bastion1", 5*time.Second)
	if strings.Contains(term.Output(), "Unknown command") {
		t.Fatalf("the line cleared by Ctrl-C ran: %q", term.Output())
	}
	off = term.Expect(off, "admin@bastion1(master)> ", 5*time.Second)
	term.Send("\x04")
	if code := term.Wait(5 * time.Second); code != 0 {
		t.Fatalf("exit status %d after Ctrl-D; output %q", code, term.Output()[off:])
	}
}

// TestInteractivePromptAtColumn0: after a remote command whose output did not end its line, the
// prompt starts on a line of its own.
func TestInteractivePromptAtColumn0(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "bastionName = \"bastion1\"\n"})
	sshd, aliceKey := targetSetup(t, b)
	term := b.SSHTerminal(aliceKey, "alice", 100, 30, "-i")
	const prompt = "alice@bastion1(master)> "
	off := term.Expect(0, prompt, 10*time.Second)
	term.Send(fmt.Sprintf("%s@127.0.0.1 -p %d printf NO-NEWLINE\r", sshd.User, sshd.Port))
	off = term.Expect(off, "NO-NEWLINE", 10*time.Second)
	end := term.Expect(off, prompt, 10*time.Second)
	out := term.Output()
	if before := out[:end-len(prompt)]; !strings.HasSuffix(before, "\n") {
		t.Fatalf("the prompt does not start at column 0: %q", out[off-len("NO-NEWLINE"):end])
	}
	term.Send("exit\r")
	if code := term.Wait(5 * time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}
