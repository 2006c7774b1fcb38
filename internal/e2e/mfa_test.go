package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

const otpBanner = "Your account has Multi-Factor Authentication enabled, an additional authentication factor is required (OTP)."
const passwordBanner = "Your account has Multi-Factor Authentication enabled, an additional authentication factor is required (password)."

// Immediate TOTP: the flag is idempotent, the setup gate refuses until enrolment, enrolment
// shows the QR code, secret and URI and confirms a code computed by oathtool, the next login
// asks the code during SSH authentication, a code already used is refused, two logins racing
// with one scratch code get one winner, and a --pam-auth-bypass robot is never asked.
func TestMFAImmediateTOTP(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "MFARateLimitAttempts = 10\n"})
	key := b.CreateAccount("alice")

	r := b.MustOK("--osh", "accountModify", "--account", "alice", "--mfa-totp-required", "yes")
	if got := jsonValue(r, "value", "mfa_totp_required", "error_code"); got != "OK" {
		t.Fatalf("first --mfa-totp-required yes: %v", got)
	}
	r = b.MustOK("--osh", "accountModify", "--account", "alice", "--mfa-totp-required", "yes")
	if got := jsonValue(r, "value", "mfa_totp_required", "error_code"); got != "OK_NO_CHANGE" {
		t.Fatalf("second --mfa-totp-required yes: %v", got)
	}

	// The setup gate: 123 with command null, but help and info still run.
	r = b.SSH(key, "alice", "--json-greppable", "--osh", "selfListIngressKeys")
	if j := r.JSON(); r.Exit != 123 || r.Code() != "KO_MFA_TOTP_SETUP_REQUIRED" || j["command"] != nil || j["value"] != nil {
		t.Fatalf("gate: exit %d %v", r.Exit, j)
	}
	for _, cmd := range []string{"help", "info"} {
		if r = b.SSH(key, "alice", "--json-greppable", "--osh", cmd); r.Exit != 0 {
			t.Fatalf("%s under the setup gate: exit %d %s", cmd, r.Exit, r.Stdout)
		}
	}

	// Enrolment on a terminal, confirmed with oathtool's code (after one wrong code).
	term := startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "--json-greppable", "--osh", "selfMFASetupTOTP")
	off := term.expect(0, "Your new secret key is: ")
	off2 := term.expect(off, "\r\n")
	secret := strings.TrimSpace(term.output()[off:off2])
	off = term.expect(off2, "otpauth://totp/gatehouse:alice@gatehouse?")
	if out := term.output(); !strings.Contains(out, "secret="+secret) || !strings.ContainsAny(out, "▀▄█") {
		t.Fatalf("enrolment shows no QR code or URI with the secret:\n%s", out)
	}
	off = term.expect(off, "Enter code from app: ")
	code := oathtool(t, secret, "")
	term.send(wrongCode(code) + "\r")
	off = term.expect(off, "Code incorrect")
	off = term.expect(off, "Enter code from app: ")
	term.send(code + "\r")
	off = term.expect(off, "Code confirmed")
	term.expect(off, "Your emergency scratch codes are:")
	exit, res := term.wait()
	scratch := regexp.MustCompile(`(?m)^(?:│ )?  ([1-9][0-9]{7})\r?$`).FindAllStringSubmatch(res.Stdout, -1)
	if exit != 0 || res.Code() != "OK" || len(scratch) != 5 {
		t.Fatalf("selfMFASetupTOTP: exit %d code %q, %d scratch codes:\n%s", exit, res.Code(), len(scratch), res.Stdout)
	}

	// Login: the code used to confirm is refused (replay), the next step's code is accepted.
	term = startKbd(t, b, kbdOpts{key: key}, "alice", "--json-greppable", "--osh", "selfListIngressKeys")
	off = term.expect(0, otpBanner)
	off = term.expect(off, "Verification code: ")
	term.send(code + "\n")
	term.expect(off, "Verification code: ")
	term.send(oathtool(t, secret, "now + 30 seconds") + "\n")
	if exit, res = term.wait(); exit != 0 || res.Code() != "OK" {
		t.Fatalf("TOTP login: exit %d\n%s", exit, res.Stdout)
	}
	if strings.Index(res.Stdout, "Verification code: ") > strings.Index(res.Stdout, "JSON_OUTPUT=") {
		t.Fatal("bastion output came before the second factor")
	}

	// Two logins race with the same scratch code: exactly one gets in.
	one := startKbd(t, b, kbdOpts{key: key}, "alice", "--json-greppable", "--osh", "info")
	two := startKbd(t, b, kbdOpts{key: key}, "alice", "--json-greppable", "--osh", "info")
	o1, o2 := one.expect(0, "Verification code: "), two.expect(0, "Verification code: ")
	one.send(scratch[0][1] + "\n")
	two.send(scratch[0][1] + "\n")
	winners, losers := 0, 0
	deadline := time.Now().Add(15 * time.Second)
	for winners+losers < 2 && time.Now().Before(deadline) {
		winners, losers = 0, 0
		for i, k := range []*kbdTerm{one, two} {
			out := k.output()[[]int{o1, o2}[i]:]
			switch {
			case strings.Contains(out, "JSON_OUTPUT="):
				winners++
			case strings.Contains(out, "Verification code: "): // asked again: the code was refused
				losers++
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if winners != 1 || losers != 1 {
		t.Fatalf("same scratch code twice: %d winners, %d refused\n--- one:\n%s\n--- two:\n%s", winners, losers, one.output(), two.output())
	}

	// A robot with --pam-auth-bypass logs in with its key alone (BatchMode: no prompt possible).
	b.MustOK("--osh", "accountModify", "--account", "alice", "--pam-auth-bypass", "yes")
	if r = b.SSH(key, "alice", "--json-greppable", "--osh", "info"); r.Exit != 0 || r.Code() != "OK" {
		t.Fatalf("pam-auth-bypass: exit %d %s %s", r.Exit, r.Stdout, r.Stderr)
	}
	// Back to normal: three nested OK, then three OK_NO_CHANGE.
	for _, want := range []string{"OK", "OK_NO_CHANGE"} {
		r = b.MustOK("--osh", "accountModify", "--account", "alice", "--pam-auth-bypass", "no", "--mfa-totp-required", "no", "--mfa-password-required", "yes")
		for _, k := range []string{"pam_auth_bypass", "mfa_totp_required", "mfa_password_required"} {
			if got := jsonValue(r, "value", k, "error_code"); got != want {
				t.Fatalf("%s: %v, want %s", k, got, want)
			}
		}
	}
	if r = b.SSH(key, "alice", "--json-greppable", "--osh", "info"); r.Exit != 255 {
		t.Fatalf("without the bypass the key alone must not do: exit %d", r.Exit)
	}
}

// wrongCode returns a 6-digit code different from code.
func wrongCode(code string) string {
	b := []byte(code)
	b[5] = '0' + (b[5]-'0'+5)%10
	return string(b)
}

var expiryRe = regexp.MustCompile(`Your password expires on (\d{4}/\d{2}/\d{2}), in (\d+) days?`)

// Password: The Bastion's two-step setup (temporary password, then passwd's dialogue), the
// immediate password prompt with the expiry line, ageing, and the expired password.
func TestMFAPasswordSetupAndExpiry(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "MFAPasswordMaxDays = 30\nMFAPasswordWarnDays = 5\n"})
	key := b.CreateAccount("bob")
	b.MustOK("--osh", "accountModify", "--account", "bob", "--mfa-password-required", "yes")
	if r := b.SSH(key, "bob", "--json-greppable", "--osh", "selfListIngressKeys"); r.Exit != 122 || r.Code() != "KO_MFA_PASSWORD_SETUP_REQUIRED" {
		t.Fatalf("gate: exit %d %s", r.Exit, r.Code())
	}

	// Without a terminal nothing is shown nor set: the dialogue needs one.
	r := b.SSHIn(strings.NewReader(""), key, "bob", "--json-greppable", "--osh", "selfMFASetupPassword", "--yes")
	if r.Exit == 0 || strings.Contains(r.Stdout, "enter this:") {
		t.Fatalf("no terminal: exit %d\n%s", r.Exit, r.Stdout)
	}
	if r = b.SSH(key, "bob", "--json-greppable", "--osh", "selfListIngressKeys"); r.Exit != 122 {
		t.Fatalf("a refused setup counts as configured: exit %d", r.Exit)
	}

	// On a terminal: the temporary password is shown, then current (wrong, then the temporary
	// one), new, retype (mismatch, then right).
	const pw = "ohz8Ciujuboh"
	term := startKbd(t, b, kbdOpts{key: key, tty: true}, "bob", "--json-greppable", "--osh", "selfMFASetupPassword", "--yes")
	off := term.expect(0, "enter this: ")
	end := term.expect(off, "\r\n")
	tmp := strings.TrimSpace(term.output()[off:end])
	off = term.expect(end, "Current password: ")
	term.send("not-it\r")
	off = term.expect(off, "Authentication token manipulation error")
	off = term.expect(off, "Current password: ")
	term.send(tmp + "\r")
	off = term.expect(off, "New password: ")
	term.send(pw + "\r")
	off = term.expect(off, "Retype new password: ")
	term.send(pw + "x\r")
	off = term.expect(off, "Sorry, passwords do not match.")
	off = term.expect(off, "New password: ")
	term.send(pw + "\r")
	term.expect(off, "Retype new password: ")
	term.send(pw + "\r")
	exit, res := term.wait()
	if exit != 0 || res.Code() != "OK" || jsonValue(res, "command") != "selfMFASetupPassword" ||
		strings.Contains(res.Stdout[end:], "enter this:") || strings.Contains(res.Stdout, pw) || strings.Count(res.Stdout, tmp) != 1 {
		t.Fatalf("setup: exit %d\n%s", exit, res.Stdout)
	}

	// Login now asks the password, with the expiry line, before any bastion output.
	now := time.Now().UTC()
	login := func(answers ...string) (string, int, testenv.Result) {
		term := startKbd(t, b, kbdOpts{key: key}, "bob", "--json-greppable", "--osh", "selfListIngressKeys")
		off := term.expect(0, passwordBanner)
		for _, a := range answers {
			off = term.expect(off, "Password: ")
			term.send(a + "\n")
		}
		exit, res := term.wait()
		return res.Stdout, exit, res
	}
	out, exit, res := login("wrong-password", pw)
	if exit != 0 || res.Code() != "OK" {
		t.Fatalf("password login: exit %d\n%s", exit, out)
	}
	m := expiryRe.FindStringSubmatch(out)
	wantDate := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 30).Format("2006/01/02")
	if m == nil || m[1] != wantDate || m[2] != "29" {
		t.Fatalf("expiry line %q, want %s in 29 days:\n%s", m, wantDate, out)
	}

	// Enrolling TOTP asks the existing factor first (login, then the JIT phase of
	// any-if-configured); then a login asks both factors, and a scratch code stands for TOTP.
	term = startKbd(t, b, kbdOpts{key: key, tty: true}, "bob", "--json-greppable", "--osh", "selfMFASetupTOTP", "--no-confirm")
	off = term.expect(0, "Password: ")
	term.send(pw + "\n")
	off = term.expect(off, "As this is required to run this plugin, entering MFA phase for bob.")
	off = term.expect(off, "Password: ")
	term.send(pw + "\r")
	term.expect(off, "Your emergency scratch codes are:")
	exit, res = term.wait()
	codes := regexp.MustCompile(`(?m)^(?:│ )?  ([1-9][0-9]{7})\r?$`).FindAllStringSubmatch(res.Stdout, -1)
	if exit != 0 || res.Code() != "OK" || len(codes) != 5 || strings.Contains(res.Stdout, "Enter code from app") {
		t.Fatalf("selfMFASetupTOTP --no-confirm: exit %d\n%s", exit, res.Stdout)
	}
	term = startKbd(t, b, kbdOpts{key: key}, "bob", "--json-greppable", "--osh", "selfListIngressKeys")
	off = term.expect(0, passwordBanner)
	off = term.expect(off, "Password: ")
	term.send(pw + "\n")
	off = term.expect(off, otpBanner)
	term.expect(off, "Verification code: ")
	term.send(codes[0][1] + "\n")
	if exit, res = term.wait(); exit != 0 || res.Code() != "OK" {
		t.Fatalf("password + scratch code: exit %d\n%s", exit, res.Stdout)
	}
	if _, err := b.App.Store.ClearMFATOTP(context.Background(), "bob"); err != nil {
		t.Fatal(err)
	}

	// Changed 27 days ago: 2 days left (within MFAPasswordWarnDays).
	ctx := context.Background()
	st, err := b.App.Store.GetMFA(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.App.Store.SetMFAPassword(ctx, "bob", st.PasswordHash, now.AddDate(0, 0, -27), false); err != nil {
		t.Fatal(err)
	}
	if out, exit, _ = login(pw); exit != 0 || !strings.Contains(out, "in 2 days") {
		t.Fatalf("aged password: exit %d\n%s", exit, out)
	}
	// Changed 31 days ago: expired. The password still logs in, but only to change it.
	if err := b.App.Store.SetMFAPassword(ctx, "bob", st.PasswordHash, now.AddDate(0, 0, -31), false); err != nil {
		t.Fatal(err)
	}
	out, exit, res = login(pw)
	if exit != 122 || res.Code() != "KO_MFA_PASSWORD_SETUP_REQUIRED" || !strings.Contains(out, "You are required to change your password immediately") {
		t.Fatalf("expired password: exit %d\n%s", exit, out)
	}
}

// JIT MFA for a command (the operator's [plugin.help] mfa_required), proactive MFA, batch, the
// interactive mode's mfa/nomfa and its expiry, and a 10 kB answer.
func TestMFAJITCommand(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "MFAMode = \"jit\"\ninteractiveModeProactiveMFAexpiration = 3\n" +
		"[plugin.help]\nmfa_required = \"password\"\n"})
	const pw = "correct horse 1"
	events := recordAudit(b)
	keys := map[string]string{}
	for _, n := range []string{"carol", "dave", "erin"} {
		keys[n] = b.CreateAccount(n)
		setPassword(t, b, n, pw)
	}

	// In JIT mode the login is key only (BatchMode), and help asks the password on the terminal.
	term := startKbd(t, b, kbdOpts{key: keys["carol"], tty: true}, "carol", "--json-greppable", "--osh", "help")
	off := term.expect(0, "As this is required to run this plugin, entering MFA phase for carol.")
	off = term.expect(off, passwordBanner)
	off = term.expect(off, "Password: ")
	term.send(pw + "\r")
	term.expect(off, "pamtester: successfully authenticated")
	if exit, res := term.wait(); exit != 0 || res.Code() != "OK" || !strings.Contains(res.Stdout, "OSH help") || strings.Contains(res.Stdout, pw) {
		t.Fatalf("help after JIT MFA: exit %d\n%s", exit, res.Stdout)
	}
	// Commands that require nothing are not asked.
	if r := b.SSH(keys["carol"], "carol", "--json-greppable", "--osh", "info"); r.Exit != 0 || strings.Contains(r.Stdout+r.Stderr, "MFA phase") {
		t.Fatalf("info: exit %d %s %s", r.Exit, r.Stdout, r.Stderr)
	}

	// Three wrong answers: 125, and the command never ran.
	term = startKbd(t, b, kbdOpts{key: keys["dave"], tty: true}, "dave", "--json-greppable", "--osh", "help")
	off = 0
	for range 3 {
		off = term.expect(off, "Password: ")
		term.send("not the password\r")
	}
	exit, res := term.wait()
	if exit != 125 || res.Code() != "KO_MFA_FAILED" || strings.Contains(res.Stdout, "OSH help") || !strings.Contains(res.Stdout, "pamtester: Authentication failure") {
		t.Fatalf("3 wrong passwords: exit %d\n%s", exit, res.Stdout)
	}
	n := 0
	for _, e := range events.all() {
		if strings.HasPrefix(e, "mfa.fail ") && strings.Contains(e, "account=dave") && strings.Contains(e, "command=help") && strings.Contains(e, "stage=jit") {
			n++
		}
	}
	if n != 3 || !events.has("mfa.phase_refused", "account=dave") || !events.has("mfa.prompt", "account=dave") || !events.has("mfa.pass", "account=carol") {
		t.Fatalf("audit of the JIT phases: %d failures of dave\n%s", n, strings.Join(events.all(), "\n"))
	}

	// A 10 kB answer: refused at once. (Issue 9: on a pty; without one the password is no
	// longer asked at all, TestMFANoPasswordWithoutTerminal.)
	term = startKbd(t, b, kbdOpts{key: keys["erin"], tty: true}, "erin", "--json-greppable", "--osh", "help")
	term.expect(0, "Password: ")
	term.send(strings.Repeat("7", 10240) + "\r")
	if exit, res := term.wait(); exit != 125 || res.Code() != "KO_MFA_FAILED" || !strings.Contains(res.Stdout, "answer too long") || strings.Contains(res.Stdout, "OSH help") {
		t.Fatalf("10 kB answer: exit %d\n%s", exit, res.Stdout)
	}

	// --proactive-mfa: asked once, up front; the command then says it was validated.
	term = startKbd(t, b, kbdOpts{key: keys["carol"], tty: true}, "carol", "--json-greppable", "--proactive-mfa", "--osh", "help")
	off = term.expect(0, "As proactive MFA has been requested, entering MFA phase for carol.")
	off = term.expect(off, "Password: ")
	term.send(pw + "\r")
	term.expect(off, "... you already validated MFA proactively.")
	if exit, res := term.wait(); exit != 0 || res.Code() != "OK" || strings.Count(res.Stdout, "Password: ") != 1 {
		t.Fatalf("--proactive-mfa: exit %d\n%s", exit, res.Stdout)
	}

	// Batch cannot prompt: the command fails with a hint; with --proactive-mfa it runs.
	r := b.SSHIn(strings.NewReader("help\nquit\n"), keys["carol"], "carol", "--json-greppable", "--osh", "batch")
	first, _ := jsonValue(r, "value").([]any)
	item, _ := firstItem(first)
	if r.Exit != 0 || item["command"] != "help" || resultCode(item) != "KO_MFA_FAILED" || !strings.Contains(resultMessage(item), "--proactive-mfa") {
		t.Fatalf("batch without --proactive-mfa: exit %d %v\n%s", r.Exit, first, r.Stderr)
	}
	// (Issue 9: the password of --proactive-mfa is typed on a pty: ssh -tt.)
	term = startKbd(t, b, kbdOpts{key: keys["carol"], tty: true}, "carol", "--json-greppable", "--proactive-mfa", "--osh", "batch")
	term.expect(0, "Password: ")
	term.send(pw + "\rhelp\nquit\n")
	_, res = term.wait()
	first, _ = jsonValue(res, "value").([]any)
	if item, _ = firstItem(first); res.Exit != 0 || resultCode(item) != "OK" {
		t.Fatalf("batch with --proactive-mfa: exit %d %v\n%s", res.Exit, first, res.Stdout)
	}

	// Interactive mode: mfa elevates ([MFA-OK]), commands do not ask again, nomfa leaves,
	// and the elevation expires after interactiveModeProactiveMFAexpiration (3 s).
	term = startKbd(t, b, kbdOpts{key: keys["carol"], tty: true}, "carol", "-i")
	off = term.expect(0, "carol@gatehouse(master)> ")
	term.send("mfa\r")
	off = term.expect(off, "As proactive MFA validation has been requested, entering MFA phase.")
	off = term.expect(off, "Password: ")
	term.send(pw + "\r")
	off = term.expect(off, "Proactive MFA enabled")
	off = term.expect(off, "carol@gatehouse(master)[MFA-OK]> ")
	term.send("help\r")
	off = term.expect(off, "... you already validated MFA proactively.")
	off = term.expect(off, "</help>")
	off = term.expect(off, "[MFA-OK]> ")
	term.send("nomfa\r")
	off = term.expect(off, "carol@gatehouse(master)> ")
	// nomfa ends the proofs too: help asks again.
	term.send("help\r")
	off = term.expect(off, "As this is required to run this plugin, entering MFA phase for carol.")
	off = term.expect(off, "Password: ")
	term.send(pw + "\r")
	off = term.expect(off, "</help>")
	off = term.expect(off, "carol@gatehouse(master)> ")
	term.send("mfa\r")
	off = term.expect(off, "Password: ")
	term.send(pw + "\r")
	off = term.expect(off, "[MFA-OK]> ")
	b.Clock.Advance(3200 * time.Millisecond) // past interactiveModeProactiveMFAexpiration
	term.send("help\r")
	off = term.expect(off, "As this is required to run this plugin, entering MFA phase for carol.")
	off = term.expect(off, "Password: ")
	term.send(pw + "\r")
	off = term.expect(off, "</help>")
	term.expect(off, "carol@gatehouse(master)> ")
	term.send("exit\r")
	if exit, _ := term.wait(); exit != 0 {
		t.Fatalf("interactive exit %d", exit)
	}
}

// The setup gate of each accountMFAPolicy value (reloaded in place): 122, 123, 124 before
// enrolment, help and info still run, nothing is gated when disabled.
func TestMFASetupGatePolicies(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "MFAMode = \"jit\"\n"})
	key := b.CreateAccount("frank")
	setPolicy := func(p string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(b.DataDir, "gatehouse.toml"), []byte("MFAMode = \"jit\"\naccountMFAPolicy = \""+p+"\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := b.App.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		policy string
		exit   int
		code   string
	}{
		{"enabled", 0, "OK"},
		{"password-required", 122, "KO_MFA_PASSWORD_SETUP_REQUIRED"},
		{"totp-required", 123, "KO_MFA_TOTP_SETUP_REQUIRED"},
		{"any-required", 124, "KO_MFA_ANY_SETUP_REQUIRED"},
		{"disabled", 0, "OK"},
	} {
		setPolicy(tc.policy)
		r := b.SSH(key, "frank", "--json-greppable", "--osh", "selfListIngressKeys")
		if r.Exit != tc.exit || r.Code() != tc.code || (tc.exit != 0 && jsonValue(r, "command") != nil) {
			t.Errorf("%s: exit %d code %s, want %d %s", tc.policy, r.Exit, r.Code(), tc.exit, tc.code)
		}
		for _, cmd := range []string{"help", "info"} {
			if r := b.SSH(key, "frank", "--json-greppable", "--osh", cmd); r.Exit != 0 {
				t.Errorf("%s: %s exit %d", tc.policy, cmd, r.Exit)
			}
		}
	}
	// disabled: even a per-account yes does not gate, and the setup commands refuse to run.
	b.MustOK("--osh", "accountModify", "--account", "frank", "--mfa-password-required", "yes")
	if r := b.SSH(key, "frank", "--json-greppable", "--osh", "selfListIngressKeys"); r.Exit != 0 {
		t.Errorf("disabled with a per-account yes: exit %d", r.Exit)
	}
	if r := b.SSH(key, "frank", "--json-greppable", "--osh", "selfMFASetupPassword", "--yes"); r.Code() != "ERR_DISABLED_BY_POLICY" {
		t.Errorf("setup under disabled: %s", r.Code())
	}
	// any-required is met by one factor.
	b.MustOK("--osh", "accountModify", "--account", "frank", "--mfa-password-required", "no")
	setPolicy("any-required") // from here the admin, who has no factor, is gated too
	enrolTOTP(t, b, "frank")
	if r := b.SSH(key, "frank", "--json-greppable", "--osh", "selfListIngressKeys"); r.Exit != 0 {
		t.Errorf("any-required with TOTP enrolled: exit %d %s", r.Exit, r.Code())
	}
}

// JIT MFA for a group's server: "(MFA REQUIRED: ANY)" in the list of accesses, the MFA phase,
// three wrong answers give 125 with no egress attempt, the right one lets the connection be
// tried; a robot with bypass is never asked, and without it is told to enrol (124).
func TestMFAGroupJIT(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "MFAMode = \"jit\"\n"})
	ctx := context.Background()
	port, attempts := countingListener(t)
	const pw = "group secret 9"
	keys := map[string]string{}
	st := b.App.Store
	if err := st.CreateGroup(ctx, store.Group{Name: "secure", CreatedAt: time.Now(), CreatedBy: "admin", MFARequired: "any",
		IdleLockTimeout: -1, IdleKillTimeout: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := common.StoreNewEgressKey(ctx, st, b.App.Env.Sealer, "group", "secure", "ed25519", 256, time.Now()); err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	if _, err := st.AddACL(ctx, store.ACLEntry{Kind: store.ACLGroup, Owner: "secure", Host: "127.0.0.1", Port: p, AddedBy: "admin", AddedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"dave", "erin", "robot"} {
		keys[n] = b.CreateAccount(n)
		if _, err := st.SetRole(ctx, "secure", store.RoleMember, n, true); err != nil {
			t.Fatal(err)
		}
	}
	setPassword(t, b, "dave", pw)
	setPassword(t, b, "erin", pw)

	term := startKbd(t, b, kbdOpts{key: keys["dave"], tty: true}, "dave", "--json-greppable", "root@127.0.0.1", "-p", port)
	off := term.expect(0, "(MFA REQUIRED: ANY)")
	off = term.expect(off, "As this is required for this host, entering MFA phase for dave.")
	for range 3 {
		off = term.expect(off, "Password: ")
		term.send("wrong\r")
	}
	exit, res := term.wait()
	if exit != 125 || res.Code() != "KO_MFA_FAILED" || attempts() != 0 {
		t.Fatalf("3 wrong answers: exit %d, %d egress attempts\n%s", exit, attempts(), res.Stdout)
	}

	term = startKbd(t, b, kbdOpts{key: keys["erin"], tty: true}, "erin", "root@127.0.0.1", "-p", port)
	off = term.expect(0, "entering MFA phase for erin.")
	off = term.expect(off, "Password: ")
	term.send(pw + "\r")
	term.expect(off, "pamtester: successfully authenticated")
	if exit, res = term.wait(); exit != 255 || attempts() != 1 {
		t.Fatalf("right answer: exit %d, %d egress attempts (want 255 from the fake target, 1)\n%s", exit, attempts(), res.Stdout)
	}

	// The robot has no factor: with bypass it connects without being asked (BatchMode), …
	b.MustOK("--osh", "accountModify", "--account", "robot", "--mfa-password-required", "bypass")
	r := b.SSH(keys["robot"], "robot", "root@127.0.0.1", "-p", port)
	if all := r.Stdout + r.Stderr; r.Exit != 255 || attempts() != 2 || strings.Contains(all, "Password") || !strings.Contains(all, "exempt from MFA") {
		t.Fatalf("bypass robot: exit %d, %d attempts\n%s", r.Exit, attempts(), all)
	}
	// … and without it, it is told to enrol, with no egress attempt.
	b.MustOK("--osh", "accountModify", "--account", "robot", "--mfa-password-required", "no")
	r = b.SSH(keys["robot"], "robot", "--json-greppable", "root@127.0.0.1", "-p", port)
	if r.Exit != 124 || r.Code() != "KO_MFA_ANY_SETUP_REQUIRED" || attempts() != 2 {
		t.Fatalf("robot without bypass: exit %d code %s, %d attempts", r.Exit, r.Code(), attempts())
	}
}

// Pubkey-optional: without the flag a login without a key is refused before any prompt; with
// it (and a password), the password alone is enough, and the key alone is not.
func TestMFAPubkeyOptional(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("gina")
	const pw = "only a password"
	setPassword(t, b, "gina", pw)

	// Without the flag the prompts are the decoy's, the same as for every name: even the right
	// password is refused (from another address: its three tries use up that source's).
	term := startKbd(t, b, kbdOpts{from: "127.0.0.9"}, "gina", "--json-greppable", "--osh", "info")
	off := 0
	for range 3 { // three rounds, as a real account's
		off = term.expect(term.expect(off, passwordBanner), "Password: ")
		term.send(pw + "\n")
	}
	if exit, res := term.wait(); exit != 255 || !strings.Contains(res.Stdout, "Permission denied") {
		t.Fatalf("no key, no flag: exit %d\n%s", exit, res.Stdout)
	}
	for _, want := range []string{"OK", "OK_NO_CHANGE"} {
		r := b.MustOK("--osh", "accountModify", "--account", "gina", "--pubkey-auth-optional", "yes")
		if got := jsonValue(r, "value", "pubkey_auth_optional", "error_code"); got != want {
			t.Fatalf("--pubkey-auth-optional yes: %v, want %s", got, want)
		}
	}
	for _, o := range []kbdOpts{{}, {key: key}} {
		term = startKbd(t, b, o, "gina", "--json-greppable", "--osh", "info")
		off := term.expect(0, passwordBanner)
		term.expect(off, "Password: ")
		term.send(pw + "\n")
		if exit, res := term.wait(); exit != 0 || jsonValue(res, "value", "account") != "gina" {
			t.Fatalf("pubkey optional, key %q: exit %d\n%s", o.key, exit, res.Stdout)
		}
	}
	// The key alone never logs in while a password is configured.
	if r := b.SSH(key, "gina", "--json-greppable", "--osh", "info"); r.Exit != 255 {
		t.Fatalf("key alone: exit %d", r.Exit)
	}
}

// Import of a ~/.google_authenticator file (its used steps stay refused, its scratch codes
// work), the lockout after repeated failures and accountUnlock, and accountMFAResetTOTP.
func TestMFAImportLockoutAndReset(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "MFALockAfterFailures = 2\n"})
	key := b.CreateAccount("henry")
	events := recordAudit(b)
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	step := time.Now().Unix() / 30
	file := fmt.Sprintf("%s\n\" RATE_LIMIT 5 30\n\" WINDOW_SIZE 3\n\" DISALLOW_REUSE %d\n\" TOTP_AUTH\n11111111\n22222222\n", secret, step)
	r := b.SSHIn(strings.NewReader(file), b.AdminKey, "admin", "--json-greppable", "--osh", "accountMFAImportTOTP", "--account", "henry")
	if r.Exit != 0 || jsonValue(r, "value", "mode") != "TOTP" || jsonValue(r, "value", "scratch_codes") != float64(2) || strings.Contains(r.Stdout, secret) {
		t.Fatalf("import: exit %d\n%s", r.Exit, r.Stdout)
	}
	if r := b.SSHIn(strings.NewReader("not base32!\n"), b.AdminKey, "admin", "--json-greppable", "--osh", "accountMFAImportTOTP", "--account", "henry"); r.Exit == 0 {
		t.Fatalf("a bad file was imported: %s", r.Stdout)
	}

	// The code of a step the old system already accepted is refused; a scratch code works once.
	term := startKbd(t, b, kbdOpts{key: key}, "henry", "--json-greppable", "--osh", "info")
	off := term.expect(0, "Verification code: ")
	term.send(oathtool(t, secret, fmt.Sprintf("@%d", step*30)) + "\n")
	term.expect(off, "Verification code: ")
	term.send("11111111\n")
	if exit, res := term.wait(); exit != 0 || res.Code() != "OK" {
		t.Fatalf("imported scratch code: exit %d\n%s", exit, res.Stdout)
	}
	if !events.has("mfa.fail", "code already used") || !events.has("mfa.pass", "scratch code") {
		t.Fatalf("audit lacks the replay refusal or the scratch code: %v", events.all())
	}

	// Two failures lock the factor: the next login is refused without a prompt.
	term = startKbd(t, b, kbdOpts{key: key}, "henry", "--osh", "info")
	off = 0
	for range 2 {
		off = term.expect(off, "Verification code: ")
		term.send(wrongCode(oathtool(t, secret, "")) + "\n")
	}
	if exit, _ := term.wait(); exit != 255 {
		t.Fatalf("two wrong codes: exit %d", exit)
	}
	term = startKbd(t, b, kbdOpts{key: key}, "henry", "--osh", "info")
	if exit, res := term.wait(); exit != 255 || strings.Contains(res.Stdout, "Verification code") {
		t.Fatalf("locked account was prompted: exit %d\n%s", exit, res.Stdout)
	}
	if !events.has("mfa.refused", "locked") {
		t.Fatalf("audit lacks the lockout: %v", events.all())
	}
	b.MustOK("--osh", "accountUnlock", "--account", "henry")
	term = startKbd(t, b, kbdOpts{key: key}, "henry", "--json-greppable", "--osh", "info")
	term.expect(0, "Verification code: ")
	term.send(oathtool(t, secret, "now + 30 seconds") + "\n")
	if exit, res := term.wait(); exit != 0 {
		t.Fatalf("after accountUnlock: exit %d\n%s", exit, res.Stdout)
	}

	// accountMFAResetTOTP: the key alone logs in again; a second reset changes nothing.
	b.MustOK("--osh", "accountMFAResetTOTP", "--account", "henry")
	if r := b.Admin("--json-greppable", "--osh", "accountMFAResetTOTP", "--account", "henry"); r.Code() != "OK_NO_CHANGE" {
		t.Fatalf("second reset: %s", r.Code())
	}
	if r := b.SSH(key, "henry", "--json-greppable", "--osh", "info"); r.Exit != 0 {
		t.Fatalf("after reset: exit %d", r.Exit)
	}
	for _, e := range events.all() {
		if strings.Contains(e, secret) || strings.Contains(e, "11111111") || strings.Contains(e, "22222222") {
			t.Fatalf("a secret reached the audit: %s", e)
		}
	}
}
