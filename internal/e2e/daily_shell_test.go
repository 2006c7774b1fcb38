package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// tmuxTerm is the real ssh client inside tmux: what the person sees is tmux's screen
// (capture-pane), drawn by a real terminal emulator from the bytes gatehouse sent.
type tmuxTerm struct {
	t      *testing.T
	socket string
}

func startTmux(t *testing.T, b *testenv.Bastion, key, account string, words ...string) *tmuxTerm {
	return startTmuxSized(t, b, 100, key, account, words...)
}

func startTmuxSized(t *testing.T, b *testenv.Bastion, cols int, key, account string, words ...string) *tmuxTerm {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		testenv.Need(t, "tmux is not installed")
	}
	tm := &tmuxTerm{t: t, socket: filepath.Join(t.TempDir(), "tmux.sock")}
	args := append([]string{"ssh", "-tt"}, b.SSHArgs(key, account)...)
	args = append(append(args, "--"), words...)
	// The pane outlives ssh, so that its last screen and exit status can be read.
	cmd := append([]string{"-S", tm.socket, "-f", "/dev/null", "new-session", "-d", "-x", strconv.Itoa(cols), "-y", "50",
		"sh", "-c", `"$@"; echo "[ssh exited $?]"; exec sleep 600`, "sh"}, args...)
	if out, err := exec.Command("tmux", cmd...).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", tm.socket, "kill-server").Run() })
	return tm
}

// keys types keys as tmux send-keys names them ("Tab", "C-c", "Up", or literal text with -l).
func (tm *tmuxTerm) keys(literal bool, keys ...string) {
	tm.t.Helper()
	args := []string{"-S", tm.socket, "send-keys"}
	if literal {
		args = append(args, "-l")
	}
	if out, err := exec.Command("tmux", append(args, keys...)...).CombinedOutput(); err != nil {
		tm.t.Fatalf("send-keys: %v %s", err, out)
	}
}

func (tm *tmuxTerm) screen() string {
	out, _ := exec.Command("tmux", "-S", tm.socket, "capture-pane", "-p", "-S", "-200").Output()
	return string(out)
}

// waitScreen waits until cond holds on the screen, and returns the screen.
func (tm *tmuxTerm) waitScreen(what string, cond func(string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if s := tm.screen(); cond(s) {
			return s
		}
		time.Sleep(30 * time.Millisecond)
	}
	tm.t.Fatalf("the screen never showed %s:\n%s", what, tm.screen())
	return ""
}

// lastLine is the last non-empty line of the screen (where the prompt is).
func lastLine(screen string) string {
	lines := strings.Split(strings.TrimRight(screen, "\n "), "\n")
	return strings.TrimRight(lines[len(lines)-1], " ")
}

func (tm *tmuxTerm) waitLast(want string) string {
	tm.t.Helper()
	return tm.waitScreen("the last line "+want, func(s string) bool { return lastLine(s) == want })
}

// TestInteractiveTabTabAndHistory: in the interactive mode on a real terminal (tmux), Tab-Tab
// lists the candidates (commands, an option's values such as account names) above the prompt,
// which is redrawn with what was typed; Ctrl-C clears the line, Ctrl-D leaves; the history
// persists to the next login (Up brings back the last command), without the lines that are no
// command and without what was typed at a password prompt. On main Tab-Tab listed nothing and
// the history died with the session.
func TestInteractiveTabTabAndHistory(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	b.CreateAccount("alice")
	b.CreateAccount("albert")
	const prompt = "admin@gatehouse(master)> "
	tm := startTmux(t, b, b.AdminKey, "admin", "-i")
	tm.waitLast(strings.TrimSpace(prompt))

	// Commands: Tab-Tab on "selfList" lists the self* list commands.
	tm.keys(true, "selfList")
	tm.keys(false, "Tab", "Tab")
	s := tm.waitScreen("the selfList* commands", func(s string) bool {
		return strings.Contains(s, "selfListIngressKeys") && strings.Contains(s, "selfListAccesses")
	})
	if l := lastLine(s); l != prompt+"selfList" {
		t.Fatalf("the prompt is not redrawn under the list: %q\n%s", l, s)
	}
	// Ctrl-C clears the line and gives a new prompt; the session goes on.
	tm.keys(false, "C-c")
	tm.waitLast(strings.TrimSpace(prompt))

	// An option's values: account names after --account.
	tm.keys(true, "accountInfo --acc")
	tm.keys(false, "Tab")
	tm.waitLast(prompt + "accountInfo --account")
	tm.keys(true, "al")
	tm.keys(false, "Tab", "Tab")
	_ = tm.waitScreen("the account names", func(s string) bool {
		for _, l := range strings.Split(s, "\n") {
			if strings.Contains(l, "albert") && strings.Contains(l, "alice") && !strings.Contains(l, prompt) {
				return true
			}
		}
		return false
	})
	tm.keys(true, "i")
	tm.keys(false, "Tab")
	tm.waitLast(prompt + "accountInfo --account alice")
	tm.keys(false, "Enter")
	tm.waitScreen("alice's info", func(s string) bool {
		return strings.Contains(s, "</accountInfo>") && lastLine(s) == strings.TrimSpace(prompt)
	})

	// Server names after ssh: the account's own accesses.
	b.MustOK("--osh", "selfAddPersonalAccess", "--host", "10.0.0.9", "--user", "root", "--port", "22", "--force")
	tm.keys(true, "ssh 10.0")
	tm.keys(false, "Tab")
	tm.waitLast(prompt + "ssh 10.0.0.9")
	tm.keys(false, "C-c")
	tm.waitLast(strings.TrimSpace(prompt))

	// Not commands: kept for the session, never written.
	tm.keys(true, "Sup3rSecret-typed-at-the-wrong-prompt")
	tm.keys(false, "Enter")
	s = tm.waitScreen("the refusal", func(s string) bool { return strings.Contains(s, "Unknown command") })
	if l := strayRule(s); l != "" {
		t.Fatalf("a rule wider than the terminal wrapped: %q\n%s", l, s)
	}
	// A password typed at a password prompt: selfMFASetupPassword in the interactive mode.
	const pw = "Ahw7iepheeGh"
	tm.keys(true, "selfMFASetupPassword --yes")
	tm.keys(false, "Enter")
	s = tm.waitScreen("the temporary password", func(s string) bool { return strings.Contains(s, "Current password:") })
	i := strings.Index(s, "enter this: ")
	tmp := strings.Fields(s[i+len("enter this: "):])[0]
	tm.keys(true, tmp)
	tm.keys(false, "Enter")
	tm.waitScreen("New password", func(s string) bool { return strings.Contains(s, "New password:") })
	tm.keys(true, pw)
	tm.keys(false, "Enter")
	tm.waitScreen("Retype", func(s string) bool { return strings.Contains(s, "Retype new password:") })
	tm.keys(true, pw)
	tm.keys(false, "Enter")
	tm.waitScreen("the password set", func(s string) bool {
		return strings.Contains(s, "password updated successfully") && lastLine(s) == strings.TrimSpace(prompt)
	})
	// Ctrl-D on the empty line leaves.
	tm.keys(false, "C-d")
	tm.waitScreen("ssh ended", func(s string) bool { return strings.Contains(s, "[ssh exited 0]") })

	// The next login (key only again: the password would be asked first): Up brings back the
	// last command, then the one before.
	if _, err := b.App.Store.ClearMFAPassword(context.Background(), "admin"); err != nil {
		t.Fatal(err)
	}
	tm2 := startTmux(t, b, b.AdminKey, "admin", "-i")
	tm2.waitLast(strings.TrimSpace(prompt))
	tm2.keys(false, "Up")
	tm2.waitLast(prompt + "selfMFASetupPassword --yes")
	tm2.keys(false, "Up")
	tm2.waitLast(prompt + "accountInfo --account alice")
	tm2.keys(false, "C-c")

	files, _ := filepath.Glob(filepath.Join(b.DataDir, "history", "*"))
	if len(files) != 1 {
		t.Fatalf("history files %v, want one for admin", files)
	}
	data, _ := os.ReadFile(files[0])
	fi, _ := os.Stat(files[0])
	if strings.Contains(string(data), pw) || strings.Contains(string(data), tmp) || strings.Contains(string(data), "Sup3rSecret") ||
		!strings.Contains(string(data), "accountInfo --account alice\n") || fi.Mode().Perm() != 0o600 {
		t.Fatalf("history file (%v):\n%s", fi.Mode(), data)
	}
}

// strayRule is a screen line made only of the box's dashes: a rule the terminal wrapped.
func strayRule(screen string) string {
	for _, l := range strings.Split(screen, "\n") {
		if l = strings.TrimSpace(l); l != "" && strings.Trim(l, "─") == "" {
			return l
		}
	}
	return ""
}

// TestBoxOnARealTerminal: what tmux draws of the TOTP setup (QR code, secret, scratch codes)
// on a terminal as wide as the QR code needs and on a narrower one: no rule wraps, every row
// of the QR code keeps the border and its width, and on the narrow terminal the setup says the
// code cannot be scanned there (on main the bottom rule, as wide as the URI, wrapped).
func TestBoxOnARealTerminal(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	for _, cols := range []int{100, 40} {
		key := b.CreateAccount("user" + strconv.Itoa(cols))
		tm := startTmuxSized(t, b, cols, key, "user"+strconv.Itoa(cols), "--osh", "selfMFASetupTOTP", "--no-confirm")
		s := tm.waitScreen("the scratch codes and the end", func(s string) bool {
			return strings.Contains(s, "[ssh exited 0]") && strings.Contains(s, "</selfMFASetupTOTP>")
		})
		if l := strayRule(s); l != "" {
			t.Errorf("%d columns: a rule wrapped: %q\n%s", cols, l, s)
		}
		narrow := strings.Contains(s, "Your terminal is 40 columns")
		if narrow != (cols == 40) {
			t.Errorf("%d columns: the narrow-terminal line shown: %v\n%s", cols, narrow, s)
		}
		if cols == 100 {
			qrw := -1
			for _, l := range strings.Split(s, "\n") {
				if !strings.ContainsAny(l, "▀▄█") {
					continue
				}
				if !strings.HasPrefix(l, "│ ") {
					t.Errorf("a QR row outside the box: %q", l)
				}
				w := len([]rune(strings.TrimRight(l, " ")))
				if qrw == -1 {
					qrw = w
				}
				if w > cols {
					t.Errorf("a QR row wider than the terminal: %q", l)
				}
			}
			if qrw <= 0 {
				t.Fatalf("no QR code on the screen:\n%s", s)
			}
		}
	}
}

// TestTabTabShowsOnlyWhatTheAccountMayRun: Tab-Tab lists the commands the account may run, and
// names (accounts) only after an option of a command it may run: a plain account learns no
// restricted command and no account name from the completion.
func TestTabTabShowsOnlyWhatTheAccountMayRun(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	b.CreateAccount("alice")
	bob := b.CreateAccount("bob")
	const prompt = "bob@gatehouse(master)>"
	tm := startTmux(t, b, bob, "bob", "-i")
	tm.waitLast(prompt)
	tm.keys(false, "Tab", "Tab")
	s := tm.waitScreen("bob's commands", func(s string) bool { return strings.Contains(s, "selfListIngressKeys") })
	if strings.Contains(s, "accountList") || strings.Contains(s, "accountInfo") {
		t.Fatalf("restricted commands listed to bob:\n%s", s)
	}
	tm.keys(true, "accountInfo --account ")
	tm.keys(false, "Tab", "Tab")
	tm.keys(true, "x")
	s = tm.waitScreen("the typed line", func(s string) bool { return lastLine(s) == prompt+" accountInfo --account x" })
	if strings.Contains(s, "alice") {
		t.Fatalf("account names listed to bob:\n%s", s)
	}
}

// TestInteractiveFollowsWindowSize: the window made narrower while at the prompt (tmux
// resizes it, ssh sends the change): the next box is drawn for the new width, no rule wraps
// (on main the mode kept the size it started with).
func TestInteractiveFollowsWindowSize(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	tm := startTmux(t, b, b.AdminKey, "admin", "-i")
	tm.waitLast("admin@gatehouse(master)>")
	if out, err := exec.Command("tmux", "-S", tm.socket, "resize-window", "-x", "50", "-y", "40").CombinedOutput(); err != nil {
		t.Fatalf("resize: %v %s", err, out)
	}
	tm.waitScreen("the narrower window", func(s string) bool {
		out, _ := exec.Command("tmux", "-S", tm.socket, "display-message", "-p", "#{window_width}").Output()
		return strings.TrimSpace(string(out)) == "50"
	})
	tm.keys(true, "no-such-command-with-a-rather-long-name-to-fill-the-line")
	tm.keys(false, "Enter")
	s := tm.waitScreen("the refusal's bottom rule", func(s string) bool {
		return strings.Contains(s, "╰") && lastLine(s) == "admin@gatehouse(master)>"
	})
	if l := strayRule(s); l != "" {
		t.Fatalf("a rule wider than the new width wrapped: %q\n%s", l, s)
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "╰") && len([]rune(strings.TrimRight(l, " "))) > 50 {
			t.Fatalf("bottom rule wider than 50 columns: %q", l)
		}
	}
}

// TestInteractiveRelayGetsWindowSize: from the interactive mode, a window resized at the
// prompt is the size the next relay's pty starts with, and a resize during the relay reaches
// the target; back at the prompt the mode goes on.
func TestInteractiveRelayGetsWindowSize(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	term := b.SSHTerminal(aliceKey, "alice", 100, 30, "-i")
	off := term.Expect(0, "alice@gatehouse(master)> ", 10*time.Second)
	term.Resize(90, 25)
	// The window change travels apart from the keystrokes: Tab-Tab's listing is laid out for
	// the width the mode knows, so wait until 90 columns lay it out as 90 do.
	waitWidth := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			from := len(term.Output())
			term.Send("\t\t")
			time.Sleep(100 * time.Millisecond)
			if perRow, colw := listingShape(term.Output()[from:]); colw > 0 && perRow == want/colw {
				term.Send("\x03")
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the mode never laid the listing out for %d columns:\n%s", want, term.Output())
			}
		}
	}
	waitWidth(90)
	term.Send(fmt.Sprintf("ssh %s@127.0.0.1 -p %d\r", sshd.User, sshd.Port))
	off = term.Expect(off, "Connecting...", 10*time.Second)
	term.Send("stty size\r")
	off = term.Expect(off, "25 90", 10*time.Second)
	term.Resize(120, 40)
	// During the relay the target's own terminal gets the change: poll stty until it shows.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(term.Output()[off:], "40 120") {
		if time.Now().After(deadline) {
			t.Fatalf("the target never saw 120x40:\n%s", term.Output()[off:])
		}
		term.Send("stty size\r")
		time.Sleep(100 * time.Millisecond)
	}
	off = len(term.Output())
	term.Send("exit\r")
	_ = term.Expect(off, "alice@gatehouse(master)> ", 10*time.Second)
	term.Send("exit\r")
	if code := term.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}

// listingShape is how many candidates a Tab-Tab listing puts on a row, and the width of its
// columns (the longest candidate and two spaces), read from the row holding "selfListSessions".
func listingShape(out string) (perRow, colw int) {
	longest := 0
	var row []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r ")
		if strings.Contains(l, "@gatehouse(master)>") {
			continue
		}
		f := strings.Fields(l)
		for _, w := range f {
			longest = max(longest, len(w))
		}
		if strings.Contains(l, "selfListSessions") {
			row = f
		}
	}
	if row == nil {
		return 0, 0
	}
	return len(row), longest + 2
}
