package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"gatehouse/internal/sshtest"
	"gatehouse/internal/testenv"
)

// passwordTarget makes a Unix user on this machine for a real sshd with PasswordAuthentication,
// whose password is set later from a hash (usermod -p): the test never needs the password itself.
func passwordTarget(t *testing.T) (*sshtest.SSHD, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Need(t, "needs root: sshd checks a Unix user's password in /etc/shadow")
	}
	for _, bin := range []string{"useradd", "usermod", "userdel"} {
		if _, err := exec.LookPath(bin); err != nil {
			testenv.Need(t, "needs %s", bin)
		}
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	user := "ghpw" + hex.EncodeToString(b)
	if out, err := exec.Command("useradd", "-M", "-d", "/tmp", "-s", "/bin/sh", user).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("userdel", user).Run() })
	sshd := sshtest.StartSSHDWith(t, sshtest.Options{Extra: []string{"PasswordAuthentication yes"}})
	return sshd, user
}

func setUnixHash(t *testing.T, user, hash string) {
	t.Helper()
	if out, err := exec.Command("usermod", "-p", hash, user).CombinedOutput(); err != nil {
		t.Fatalf("usermod: %v %s", err, out)
	}
}

// Egress passwords end to end with the real ssh and a real sshd that takes only passwords: the
// generated password's sha512crypt hash, put in /etc/shadow, lets -P log in ("will use SSH with
// password autologin"); a group's password is used with --password GROUP only by an account
// with an access through that group; a new password not yet deployed falls back to the previous.
func TestEgressPasswordAutologin(t *testing.T) {
	sshd, unixUser := passwordTarget(t)
	b := testenv.Start(t, testenv.Options{})
	port := fmt.Sprint(sshd.Port)
	piaKey := b.CreateAccount("pia")
	b.MustOK("--osh", "accountAddPersonalAccess", "--account", "pia", "--host", "127.0.0.1", "--user", unixUser, "--port", port, "--force")

	r := b.SSH(piaKey, "pia", "--json-greppable", "--osh", "selfGeneratePassword")
	if r.Code() != "ERR_MISSING_PARAMETER" || !strings.Contains(r.Stdout, "BEWARE") {
		t.Fatalf("without --do-it: %s\n%s", r.Code(), r.Stdout)
	}
	r = b.SSH(piaKey, "pia", "--json-greppable", "--osh", "selfGeneratePassword", "--do-it", "--size", "24")
	hash, _ := jsonValue(r, "value", "hashes", "sha512crypt").(string)
	if r.Exit != 0 || !strings.HasPrefix(hash, "$6$") || jsonValue(r, "value", "context") != "account" {
		t.Fatalf("selfGeneratePassword: exit %d\n%s", r.Exit, r.Stdout)
	}
	setUnixHash(t, unixUser, hash)
	if l := b.SSH(piaKey, "pia", "--json-greppable", "--osh", "selfListPasswords"); !strings.Contains(l.Stdout, hash) || !strings.Contains(l.Stdout, "Current password") {
		t.Fatalf("selfListPasswords:\n%s", l.Stdout)
	}

	dest := unixUser + "@127.0.0.1"
	if r := b.SSH(piaKey, "pia", dest, "-p", port, "id", "-un"); r.Exit != 255 {
		t.Fatalf("without -P (no key on the target): exit %d\n%s%s", r.Exit, r.Stdout, r.Stderr)
	}
	r = b.SSH(piaKey, "pia", "-P", dest, "-p", port, "id", "-un")
	if r.Exit != 0 || strings.TrimSpace(r.Stdout) != unixUser || !strings.Contains(r.Stderr, "will use SSH with password autologin") {
		t.Fatalf("-P: exit %d stdout %q\n%s", r.Exit, r.Stdout, r.Stderr)
	}

	// A new password, not deployed yet: the previous one is tried next.
	b.SSH(piaKey, "pia", "--osh", "selfGeneratePassword", "--do-it")
	if r := b.SSH(piaKey, "pia", "--self-password", dest, "-p", port, "true"); r.Exit != 0 {
		t.Fatalf("fallback to the previous password: exit %d\n%s", r.Exit, r.Stderr)
	}

	// A group's password: only through an access of that group.
	b.MustOK("--osh", "groupCreate", "--group", "web", "--owner", "admin", "--algo", "ed25519")
	r = b.MustOK("--osh", "groupGeneratePassword", "--group", "web", "--do-it")
	ghash := jsonValue(r, "value", "hashes", "sha512crypt").(string)
	if r := b.SSH(piaKey, "pia", "--json-greppable", "--password", "web", dest, "-p", port, "true"); r.Exit != 107 || !strings.Contains(r.Stderr+r.Stdout, "through group web") {
		t.Fatalf("another group's password without its access: exit %d\n%s%s", r.Exit, r.Stdout, r.Stderr)
	}
	if r := b.SSH(piaKey, "pia", "--json-greppable", "--osh", "groupListPasswords", "--group", "web"); r.Code() != "ERR_NOT_ALLOWED" {
		t.Fatalf("groupListPasswords by a non-member: %s", r.Code())
	}
	b.MustOK("--osh", "groupAddMember", "--group", "web", "--account", "pia")
	b.MustOK("--osh", "groupAddServer", "--group", "web", "--host", "127.0.0.1", "--user", unixUser, "--port", port, "--force")
	setUnixHash(t, unixUser, ghash)
	if r := b.SSH(piaKey, "pia", "--password", "web", dest, "-p", port, "id", "-un"); r.Exit != 0 || strings.TrimSpace(r.Stdout) != unixUser {
		t.Fatalf("--password web: exit %d\n%s%s", r.Exit, r.Stdout, r.Stderr)
	}
	if r := b.SSH(piaKey, "pia", "-P", dest, "-p", port, "true"); r.Exit != 255 {
		t.Fatalf("pia's own passwords no longer match: exit %d", r.Exit)
	}
	if r := b.SSH(piaKey, "pia", "--json-greppable", "--osh", "groupListPasswords", "--group", "web"); r.Exit != 0 || !strings.Contains(r.Stdout, ghash) {
		t.Fatalf("groupListPasswords by a member: exit %d\n%s", r.Exit, r.Stdout)
	}
	// The list shows the current password and its fallback, as hashes only.
	if r := b.MustOK("--osh", "accountListPasswords", "--account", "pia"); !strings.Contains(r.Stdout, "Fallback password 1 created at") || strings.Contains(r.Stdout, "Fallback password 2") {
		t.Fatalf("accountListPasswords: %s", r.Stdout)
	}
}
