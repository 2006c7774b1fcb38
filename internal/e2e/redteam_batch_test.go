package e2e

import (
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
