package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// hasTOTP and hasPassword read what the store holds for account (configured factors only).
func hasTOTP(t *testing.T, b *testenv.Bastion, account string) bool {
	t.Helper()
	st, err := b.App.Store.GetMFA(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	return st.TOTPSet
}

func passwordState(t *testing.T, b *testenv.Bastion, account string) (set, temporary bool) {
	t.Helper()
	st, err := b.App.Store.GetMFA(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	return st.PasswordHash != "", st.PasswordTemporary
}

// reloadConfig writes the bastion's config file and reloads it, as a HUP does.
func reloadConfig(t *testing.T, b *testenv.Bastion, toml string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(b.DataDir, "gatehouse.toml"), []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.App.Reload(); err != nil {
		t.Fatal(err)
	}
}

// enrolTOTPOnScreen answers the TOTP enrolment shown on term from offset off: reads the
// secret, types oathtool's code, waits for the scratch codes. It returns the secret and the
// offset after the scratch codes' header.
func enrolTOTPOnScreen(t *testing.T, term *kbdTerm, off int) (string, int) {
	t.Helper()
	off = term.expect(off, "Your new secret key is: ")
	end := term.expect(off, "\r\n")
	secret := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(term.output()[off:end]), "│"))
	off = term.expect(end, "Enter code from app: ")
	term.send(oathtool(t, secret, "") + "\r")
	off = term.expect(off, "Code confirmed")
	off = term.expect(off, "Your emergency scratch codes are:")
	return secret, off
}

// TestFirstLoginEnrolsTOTP: with accountMFAPolicy = "totp-required", a new account's first
// login on a terminal walks it through the TOTP setup (QR code, a first code, scratch codes),
// then goes on with what it asked: the interactive mode, where the prompt then works. On main
// the account landed in the interactive mode with no hint and selfMFASetupTOTP was refused there.
func TestFirstLoginEnrolsTOTP(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "metricsListen = \"127.0.0.1:0\"\n"})
	key := b.CreateAccount("alice")
	reloadConfig(t, b, "metricsListen = \"127.0.0.1:0\"\naccountMFAPolicy = \"totp-required\"\n")
	term := startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "-i")
	off := term.expect(0, "requires a second factor and yours is not set up yet")
	off = term.expect(off, "Let's set it up now")
	_, off = enrolTOTPOnScreen(t, term, off)
	if out := term.output(); !strings.ContainsAny(out, "▀▄█") { // printed before the secret, seen by now
		t.Fatalf("no QR code:\n%s", out)
	}
	off = term.expect(off, "interactive mode")
	off = term.expect(off, "alice@gatehouse(master)> ")
	term.send("selfListIngressKeys\r")
	off = term.expect(off, "ssh-ed25519")
	term.expect(off, "alice@gatehouse(master)> ")
	term.send("exit\r")
	if exit, res := term.wait(); exit != 0 {
		t.Fatalf("exit %d:\n%s", exit, res.Stdout)
	}
	if !hasTOTP(t, b, "alice") {
		t.Fatal("no TOTP stored after the enrolment")
	}
	if got := scrapeSample(t, b, `gatehouse_mfa_enrolments_total{factor="totp",result="enrolled"}`); got != 1 {
		t.Fatalf("enrolments counted: %v", got)
	}
}

// TestFirstLoginEnrolsInInteractiveMode: the policy turned on while an account sits in the
// interactive mode (or an -i started before any factor was needed): the next command walks it
// through the enrolment inside the mode, with the mode's own line editor, then runs.
func TestFirstLoginEnrolsInInteractiveMode(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("alice")
	term := startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "-i")
	off := term.expect(0, "alice@gatehouse(master)> ")
	b.MustOK("--osh", "accountModify", "--account", "alice", "--mfa-totp-required", "yes")
	term.send("selfListIngressKeys\r")
	off = term.expect(off, "Let's set it up now")
	_, off = enrolTOTPOnScreen(t, term, off)
	off = term.expect(off, "ssh-ed25519")
	term.expect(off, "alice@gatehouse(master)> ")
	term.send("exit\r")
	if exit, res := term.wait(); exit != 0 {
		t.Fatalf("exit %d:\n%s", exit, res.Stdout)
	}
	if !hasTOTP(t, b, "alice") {
		t.Fatal("no TOTP stored after the enrolment")
	}
}

// TestFirstLoginNoPTYSaysSSHT: without a pty nothing can be walked through: the refusal (123,
// The Bastion's code) says to log in with `ssh -t`, and nothing is set.
func TestFirstLoginNoPTYSaysSSHT(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("alice")
	reloadConfig(t, b, "accountMFAPolicy = \"totp-required\"\n")
	r := b.SSH(key, "alice", "--json-greppable", "--osh", "selfListIngressKeys")
	if r.Exit != 123 || r.Code() != "KO_MFA_TOTP_SETUP_REQUIRED" || !strings.Contains(r.Stdout, "ssh -t") {
		t.Fatalf("exit %d code %q:\n%s%s", r.Exit, r.Code(), r.Stdout, r.Stderr)
	}
	if hasTOTP(t, b, "alice") {
		t.Fatal("a TOTP was stored without a terminal")
	}
}

// TestFirstLoginAdminEnrolsPassword: with "password-required", the admin who has no password
// is walked through the password setup at the next login on a terminal, then the command runs
// (on main the admin was shut out with no warning).
func TestFirstLoginAdminEnrolsPassword(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	reloadConfig(t, b, "accountMFAPolicy = \"password-required\"\n")
	const pw = "Ahd9oor7quah"
	term := startKbd(t, b, kbdOpts{key: b.AdminKey, tty: true}, "admin", "--osh", "accountList")
	off := term.expect(0, "Let's set it up now")
	off = term.expect(off, "enter this: ")
	end := term.expect(off, "\r\n")
	tmp := strings.TrimSpace(strings.TrimRight(strings.TrimSpace(term.output()[off:end]), "│"))
	off = term.expect(end, "Current password: ")
	term.send(tmp + "\r")
	off = term.expect(off, "New password: ")
	term.send(pw + "\r")
	off = term.expect(off, "Retype new password: ")
	term.send(pw + "\r")
	off = term.expect(off, "password updated successfully")
	term.expect(off, "admin")
	if exit, res := term.wait(); exit != 0 || strings.Contains(res.Stdout[off:], "⛔") {
		t.Fatalf("exit %d:\n%s", exit, res.Stdout)
	}
	if set, tmp := passwordState(t, b, "admin"); !set || tmp {
		t.Fatalf("password set %v temporary %v after the enrolment", set, tmp)
	}
}

// TestFirstLoginAbortedChangesNothing: Ctrl-C at the first code of the enrolment ends the
// login refused (123) with nothing stored, and no command ran.
func TestFirstLoginAbortedChangesNothing(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("alice")
	reloadConfig(t, b, "accountMFAPolicy = \"totp-required\"\n")
	term := startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "--osh", "selfListIngressKeys")
	off := term.expect(0, "Enter code from app: ")
	term.send("\x03")
	exit, res := term.wait()
	if exit != 123 || strings.Contains(res.Stdout[off:], "ssh-ed25519 ") {
		t.Fatalf("exit %d (want 123, the command not run):\n%s", exit, res.Stdout)
	}
	if hasTOTP(t, b, "alice") {
		t.Fatal("an aborted enrolment stored a TOTP")
	}
}

// TestGroupRequirementEnrolsAtConnection: a group whose access requires TOTP, and a member
// with none: on a terminal the connection walks the member through the enrolment, then asks
// the new factor as the group requires, then connects (on main: refused with 123).
func TestGroupRequirementEnrolsAtConnection(t *testing.T) {
	b, key, _, port, attempts := factorBastion(t, "", "totp")
	term := startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "root@127.0.0.1", "-p", port)
	off := term.expect(0, "Let's set it up now")
	secret, off := enrolTOTPOnScreen(t, term, off)
	off = term.expect(off, "entering MFA phase for alice")
	term.expect(off, "Verification code: ")
	term.send(oathtool(t, secret, "now + 30 seconds") + "\r")
	waitFor(t, func() bool { return attempts() > 0 })
	term.close()
	if !hasTOTP(t, b, "alice") {
		t.Fatal("no TOTP stored")
	}
}

// waitFor polls cond until it holds (15 s at most).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFirstLoginAnyRequiredOffersAChoice: with "any-required" the person chooses the factor;
// a password chosen is set up (the temporary one, the new one twice) and the command runs.
func TestFirstLoginAnyRequiredOffersAChoice(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("alice")
	reloadConfig(t, b, "accountMFAPolicy = \"any-required\"\n")
	const pw = "Ieg1chahphoo"
	term := startKbd(t, b, kbdOpts{key: key, tty: true}, "alice", "--osh", "selfListIngressKeys")
	off := term.expect(0, "(p) a password? [t] ")
	term.send("p\r")
	off = term.expect(off, "enter this: ")
	end := term.expect(off, "\r\n")
	tmp := strings.TrimSpace(term.output()[off:end])
	off = term.expect(end, "Current password: ")
	term.send(tmp + "\r")
	off = term.expect(off, "New password: ")
	term.send(pw + "\r")
	off = term.expect(off, "Retype new password: ")
	term.send(pw + "\r")
	off = term.expect(off, "password updated successfully")
	term.expect(off, "ssh-ed25519")
	if exit, res := term.wait(); exit != 0 {
		t.Fatalf("exit %d:\n%s", exit, res.Stdout)
	}
	if set, temp := passwordState(t, b, "alice"); !set || temp || hasTOTP(t, b, "alice") {
		t.Fatalf("password %v (temporary %v), TOTP %v", set, temp, hasTOTP(t, b, "alice"))
	}
}
