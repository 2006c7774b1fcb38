package e2e

import (
	"fmt"
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
	off = term.Expect(off, "Connecting to", 10*time.Second)
	off = term.Expect(off, "alice@bastion1(master)> ", 10*time.Second)
	term.Send("info\r")
	off = term.Expect(off, "You are alice on bastion1", 5*time.Second)
	off = term.Expect(off, "alice@bastion1(master)> ", 5*time.Second)
	term.Send("exit\r")
	if code := term.Wait(5 * time.Second); code != 0 {
		t.Fatalf("exit status %d after one exit; output %q", code, term.Output()[off:])
	}
}
