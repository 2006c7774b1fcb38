package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/osh"
	"gatehouse/internal/testenv"
)

// TestInfoAliasIsReal: `info` prints the alias with the real host and port (on main:
// "<bastion>" and "<port>"), or bastionCommand as the operator wrote it.
func TestInfoAliasIsReal(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	r := b.MustOK("--osh", "info")
	want := fmt.Sprintf("alias gatehouse='ssh admin@%s -p %s -t --'", b.Host, b.Port)
	if !strings.Contains(r.Stdout, want) || strings.Contains(r.Stdout, "<bastion>") {
		t.Fatalf("info does not print %s:\n%s", want, r.Stdout)
	}
	b2 := testenv.Start(t, testenv.Options{Config: "bastionCommand = \"ssh ACCOUNT@bastion.example -p 2222 -t --\"\n"})
	if r := b2.MustOK("--osh", "info"); !strings.Contains(r.Stdout, "alias gatehouse='ssh admin@bastion.example -p 2222 -t --'") {
		t.Fatalf("info with bastionCommand:\n%s", r.Stdout)
	}
}

// TestSelfListSessionsRunning: a session still running is listed as running, with no exit
// status, not as DENIED with exit 0 (on main, the listing's own session and an open
// interactive session both showed DENIED).
func TestSelfListSessionsRunning(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	term := b.SSHTerminal(b.AdminKey, "admin", 100, 30, "-i")
	term.Expect(0, "admin@gatehouse", 15*time.Second)
	defer term.Close()
	r := b.MustOK("--osh", "selfListSessions")
	lines := 0
	for _, l := range strings.Split(r.Stdout, "\n") {
		if !strings.Contains(l, " admin ") {
			continue
		}
		lines++
		if strings.Contains(l, "DENIED") {
			t.Errorf("a session nothing refused is listed as DENIED: %q", l)
		}
		if strings.HasSuffix(strings.TrimRight(l, " │\r"), " open") && (!strings.Contains(l, " running ") || !strings.Contains(l, "exit=- ")) {
			t.Errorf("an open session is not shown as running without exit status: %q", l)
		}
	}
	if t.Failed() || lines < 2 {
		t.Fatalf("want the interactive session and the listing's own, neither DENIED:\n%s", r.Stdout)
	}
	j := b.MustOK("--json-greppable", "--osh", "selfListSessions").JSON()
	for _, it := range j["value"].([]any) {
		m := it.(map[string]any)
		if m["status"] == "open" && (m["allowed"] != nil || m["returnvalue"] != nil) {
			t.Errorf("JSON of an open session says allowed=%v returnvalue=%v, want null", m["allowed"], m["returnvalue"])
		}
	}
}

// TestAccountInfoHumanMatchesJSON: accountInfo's human output says what its JSON has: the MFA
// requirements and bypasses, and the groups with their roles (on main the JSON's groups were
// always empty and the human output named none of these).
func TestAccountInfoHumanMatchesJSON(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	b.CreateAccount("bob")
	b.MustOK("--osh", "groupCreate", "--group", "web", "--owner", "admin", "--algo", "ed25519")
	b.MustOK("--osh", "groupAddMember", "--group", "web", "--account", "bob")
	b.MustOK("--osh", "accountModify", "--account", "bob", "--mfa-totp-required", "yes")
	b.MustOK("--osh", "accountModify", "--account", "bob", "--pam-auth-bypass", "yes")
	r := b.MustOK("--osh", "accountInfo", "--account", "bob")
	for _, want := range []string{"MFA required: password no, TOTP yes", "(pam-auth-bypass): yes", "Groups: web (member)."} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("accountInfo's human output lacks %q:\n%s", want, r.Stdout)
		}
	}
	v := b.MustOK("--json-greppable", "--osh", "accountInfo", "--account", "bob").JSON()["value"].(map[string]any)
	if g, _ := v["groups"].(map[string]any); fmt.Sprint(g["web"]) != "map[flags:[member] name:web]" {
		t.Errorf("JSON groups: %v", v["groups"])
	}
	if v["mfa_totp_required"] != float64(1) || v["pam_auth_bypass"] != float64(1) {
		t.Errorf("JSON MFA flags: %v", v)
	}
}

// TestAdminLoginAlertsCoalesced: an admin running five commands (five SSH logins with the real
// client) within the window makes one "admin login" alert, not five, and the alert names the
// bastion in its title (on main: five alerts titled "gatehouse alert").
func TestAdminLoginAlertsCoalesced(t *testing.T) {
	alerts := newHook(t, "slack")
	b := testenv.Start(t, testenv.Options{Config: "bastionName = \"bastion-paris\"\n[notify]\n" + channelTOML("alerts", alerts, "") +
		"[notify.alerts]\nchannels = [\"alerts\"]\nkinds = [\"admin_login\", \"account_created\"]\n"})
	for range 5 {
		b.MustOK("--osh", "info")
	}
	first := alerts.waitFor(t, "admin login")
	if !strings.Contains(string(first.Body), "bastion-paris alert: admin login") {
		t.Errorf("the alert's title does not name the bastion: %s", first.Body)
	}
	// Alerts are handled in order: once the account creation's arrived, the logins' are done.
	b.CreateAccount("carol")
	alerts.waitFor(t, "account created")
	n := 0
	for _, r := range alerts.requests() {
		if strings.Contains(string(r.Body), "admin login") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d admin login alerts for 5 commands, want 1", n)
	}
}

// TestTOTPSetupInsideTheBox: selfMFASetupTOTP's QR code (half blocks on a terminal, ASCII
// without one), secret, URI and scratch codes stay inside the box: every line between its top
// and its bottom keeps the left border, and the bottom rule is as wide as the widest line (on
// main they were printed outside the box and the ASCII QR code overflowed it).
func TestTOTPSetupInsideTheBox(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("alice")
	check := func(t *testing.T, out string) {
		t.Helper()
		out = strings.ReplaceAll(out, "\r", "")
		top, bottom := strings.Index(out, "╭"), strings.LastIndex(out, "╰")
		if top < 0 || bottom < top {
			t.Fatalf("no box:\n%s", out)
		}
		lines := strings.Split(out[top:bottom], "\n")
		last := strings.SplitN(out[bottom:], "\n", 2)[0]
		widest := 0
		for _, l := range lines[1:] {
			if l == "" {
				continue
			}
			if !strings.HasPrefix(l, "│") && !strings.HasPrefix(l, "├") {
				t.Errorf("a line outside the box: %q", l)
			}
			widest = max(widest, osh.DisplayWidth(l))
		}
		if osh.DisplayWidth(last) < widest {
			t.Errorf("the bottom rule (%d columns) is narrower than the content (%d)", osh.DisplayWidth(last), widest)
		}
		if !strings.Contains(out, "otpauth://") || strings.Count(out, "\n│   ") < 5 {
			t.Errorf("no URI or fewer than 5 scratch codes in the box:\n%s", out)
		}
	}
	t.Run("terminal", func(t *testing.T) {
		term := startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "--osh", "selfMFASetupTOTP", "--no-confirm")
		if exit, res := term.wait(); exit != 0 {
			t.Fatalf("exit %d:\n%s", exit, res.Stdout)
		} else if !strings.ContainsAny(res.Stdout, "▀▄█") {
			t.Fatalf("no half-block QR code:\n%s", res.Stdout)
		} else {
			check(t, res.Stdout)
		}
	})
	t.Run("no terminal", func(t *testing.T) {
		bob := b.CreateAccount("bob")
		r := b.SSH(bob, "bob", "--osh", "selfMFASetupTOTP", "--no-confirm")
		if r.Exit != 0 || !strings.Contains(r.Stdout, "##") {
			t.Fatalf("selfMFASetupTOTP without a terminal: exit %d, no ASCII QR code:\n%s", r.Exit, r.Stdout+r.Stderr)
		}
		check(t, r.Stdout)
	})
}
