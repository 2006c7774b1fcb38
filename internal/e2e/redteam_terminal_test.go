package e2e

import (
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// TestRedteamBatchOnATerminal: `batch` typed on a terminal (`ssh -t … --osh batch`, the
// README's alias has -t; or `batch` at the -i prompt) read LF-ended lines from a raw terminal,
// which sends CR: nothing typed was echoed or run, and neither `quit`, ^D nor ^C ended it (only
// the client's ~. did). Now each line is read as a terminal would, run, and ^D, ^C or quit end
// the batch (and the session, or back to the prompt).
func TestRedteamBatchOnATerminal(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	const wait = 10 * time.Second
	for _, end := range []string{"\x04", "\x03", "quit\r"} {
		term := b.SSHTerminal(b.AdminKey, "admin", 100, 30, "--osh", "batch")
		at := term.Expect(0, "--- waiting for input", wait)
		term.Send("info --quiet\r")
		at = term.Expect(at, "--- launching command: info --quiet", wait)
		at = term.Expect(at, "You are admin on", wait)
		term.Send("nosuch\r")
		at = term.Expect(at, "--- command failed!", wait)
		term.Send(end)
		term.Expect(at, "</batch>", wait)
		if code := term.Wait(wait); code != 0 {
			t.Errorf("batch ended with %q: exit %d", end, code)
		}
	}
	// At the interactive prompt: the batch's lines go through the prompt's own editor, and ^D
	// comes back to the prompt.
	term := b.SSHTerminal(b.AdminKey, "admin", 100, 30, "-i")
	at := term.Expect(0, "admin@", wait)
	term.Send("batch\r")
	at = term.Expect(at, "--- waiting for input", wait)
	term.Send("info --quiet\r")
	at = term.Expect(at, "You are admin on", wait)
	term.Send("\x04")
	at = term.Expect(at, "</batch>", wait)
	term.Expect(at, "admin@", wait) // the prompt again
	term.Send("exit\r")
	if code := term.Wait(wait); code != 0 {
		t.Errorf("after the batch, -i did not end on `exit`: exit %d", code)
	}
}

// TestRedteamStdinCommandsOnATerminal: the commands that read standard input asked for it on
// a terminal ("Please paste the SSH public key, then press Enter:", "end with CTRL+D") and then
// waited for an LF or an end of input that a raw terminal never sends (Enter is CR, ^D is a
// byte): the session was stuck until the client cut it. Now Enter ends a key, ^D ends a list
// or a file, ^C aborts with nothing changed.
func TestRedteamStdinCommandsOnATerminal(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	const wait = 10 * time.Second
	b.MustOK("--osh", "groupCreate", "--group", "g1", "--owner", "admin", "--algo", "ed25519")
	bobKey := b.CreateAccount("bob")
	_, pub := testenv.NewKey(t, "ed25519", "pasted")

	term := b.SSHTerminal(bobKey, "bob", 100, 30, "--osh", "selfAddIngressKey")
	at := term.Expect(0, "then press Enter:", wait)
	term.Send(pub + "\r")
	term.Expect(at, "Public key successfully added", wait)
	if code := term.Wait(wait); code != 0 {
		t.Errorf("selfAddIngressKey pasted on a terminal: exit %d", code)
	}

	term = b.SSHTerminal(b.AdminKey, "admin", 100, 30, "--osh", "groupSetServers", "--group", "g1")
	at = term.Expect(0, "end with CTRL+D", wait)
	term.Send("10.1.2.3\r10.1.2.4 two\r\x04")
	term.Expect(at, "2 entries", wait)
	if code := term.Wait(wait); code != 0 {
		t.Errorf("groupSetServers ended with ^D: exit %d", code)
	}
	if r := b.MustOK("--osh", "groupListServers", "--group", "g1"); !strings.Contains(r.Stdout, "10.1.2.3") || !strings.Contains(r.Stdout, "10.1.2.4") {
		t.Errorf("the list typed on a terminal was not set: %s", r.Stdout)
	}

	term = b.SSHTerminal(b.AdminKey, "admin", 100, 30, "--osh", "accountMFAImportTOTP", "--account", "bob")
	at = term.Expect(0, "then end it (^D)", wait)
	term.Send("JBSWY3DPEHPK3PXP\r\" TOTP_AUTH\r\x03")
	term.Expect(at, "aborted", wait)
	if code := term.Wait(wait); code == 0 {
		t.Errorf("accountMFAImportTOTP aborted with ^C: exit 0")
	}
	if r := b.MustOK("--osh", "accountInfo", "--account", "bob"); !strings.Contains(r.Stdout, `"mfa_totp_configured":0`) {
		t.Errorf("an aborted import changed bob's TOTP: %s", r.Stdout)
	}
}
