package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

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
	scratch := regexp.MustCompile(`(?m)^  ([1-9][0-9]{7})\r?$`).FindAllStringSubmatch(res.Stdout, -1)
	if exit != 0 || res.Code() != "OK" || len(scratch) != 5 {
		t.Fatalf("selfMFASetupTOTP: exit %d code %q, %d scratch codes:\n%s", exit, res.Code(), len(scratch), res.Stdout)
	}

	// Login: the code used to confirm is refused (replay), the next step's code is accepted.
	term = startKbd(t, b, kbdOpts{key: key}, "alice", "--json-greppable", "--osh", "selfListIngressKeys")
	off = term.expect(0, otpBanner)
	off = term.expect(off, "Verification code: ")
	term.send(code + "\n")
	off = term.expect(off, "Verification code: ")
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

	// Step 1 without a terminal and nothing on stdin: the temporary password is set and shown,
	// then the dialogue ends. It is not a configured factor: login is still key only.
	r := b.SSHIn(strings.NewReader(""), key, "bob", "--json-greppable", "--osh", "selfMFASetupPassword", "--yes")
	m := regexp.MustCompile(`enter this: ([a-zA-Z0-9_-]+)`).FindStringSubmatch(r.Stdout)
	if m == nil || r.Exit == 0 {
		t.Fatalf("step 1: exit %d\n%s", r.Exit, r.Stdout)
	}
	tmp := m[1]
	if r = b.SSH(key, "bob", "--json-greppable", "--osh", "selfListIngressKeys"); r.Exit != 122 {
		t.Fatalf("a temporary password counts as configured: exit %d", r.Exit)
	}

	// Step 2 on a terminal: current (wrong, then the temporary one), new, retype (mismatch, then right).
	const pw = "ohz8Ciujuboh"
	term := startKbd(t, b, kbdOpts{key: key, tty: true}, "bob", "--json-greppable", "--osh", "selfMFASetupPassword", "--yes")
	off := term.expect(0, "Current password: ")
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
		strings.Contains(res.Stdout, "enter this:") || strings.Contains(res.Stdout, pw) || strings.Contains(res.Stdout, tmp) {
		t.Fatalf("step 2: exit %d\n%s", exit, res.Stdout)
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
	m = expiryRe.FindStringSubmatch(out)
	wantDate := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, 30).Format("2006/01/02")
	if m == nil || m[1] != wantDate || m[2] != "29" {
		t.Fatalf("expiry line %q, want %s in 29 days:\n%s", m, wantDate, out)
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
