package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/sshtest"
	"gatehouse/internal/store"
)

// sshdTarget starts a real sshd whose PAM service loads the module for keyboard-interactive
// after publickey (AuthenticationMethods publickey,keyboard-interactive), with args; it runs
// as a symlink of another name, so its PAM service is /etc/pam.d/<that name>, not the system's
// sshd. It returns the sshd, its service name and a local user alice's egress key may log in as.
func sshdTarget(t *testing.T, s *site, args ...string) (*sshtest.SSHD, string, string) {
	t.Helper()
	so, helper := build(t)
	return sshdTargetStack(t, s, fmt.Sprintf("auth required %s helper=%s %s", so, helper, strings.Join(args, " ")))
}

// sshdTargetStack is sshdTarget with the auth line of the PAM stack as given.
func sshdTargetStack(t *testing.T, s *site, auth string) (*sshtest.SSHD, string, string) {
	t.Helper()
	return sshdTargetNamed(t, s, sshdServiceName(), auth)
}

// sshdServiceName is a fresh PAM service name for a test's sshd (so a test can name it in a
// rule before the bastion starts).
func sshdServiceName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "sshd-gh" + hex.EncodeToString(b)
}

// sshdTargetNamed is sshdTargetStack with the PAM service's name given.
func sshdTargetNamed(t *testing.T, s *site, name, auth string) (*sshtest.SSHD, string, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, name)
	if err := os.Symlink(sshtest.SSHDPath, link); err != nil {
		t.Fatal(err)
	}
	body := auth + "\naccount required pam_permit.so\nsession required pam_permit.so\npassword required pam_deny.so\n"
	if err := os.WriteFile(filepath.Join("/etc/pam.d", name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(filepath.Join("/etc/pam.d", name)) })
	user := unixUser(t, name)
	sshd := sshtest.StartSSHDWith(t, sshtest.Options{Program: link, Extra: []string{
		"UsePAM yes", "KbdInteractiveAuthentication yes", "AuthenticationMethods publickey,keyboard-interactive",
		"AcceptEnv GATEHOUSE_TICKET"}})
	for _, p := range []string{filepath.Dir(sshd.Dir), sshd.Dir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := s.b.SSH(s.keys["alice"], "alice", "--json-greppable", "--osh", "selfListEgressKeys")
	for _, k := range r.JSON()["value"].(map[string]any) { // one key, under its fingerprint
		sshd.Authorize(t, k.(map[string]any)["line"].(string))
	}
	if err := os.Chmod(sshd.AuthorizedKeys, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.b.App.Store.AddACL(context.Background(), store.ACLEntry{Kind: store.ACLPersonal, Owner: "alice",
		Host: "127.0.0.1", User: user, Port: sshd.Port, AddedBy: "admin", AddedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return sshd, name, user
}

// TestSSHLoginWithTicketThroughGatehouse: sshd runs PAM's auth before any env request, so the
// module asks the ticket through keyboard-interactive (ask_ticket=yes); gatehouse's egress
// client answers it itself and relays the factor's prompt to the person, who answers with the
// real ssh client. The audit names her; a wrong code is refused.
func TestSSHLoginWithTicketThroughGatehouse(t *testing.T) {
	need(t)
	s := startSite(t, `MFAMode = "jit"`)
	secret := s.person(t, "alice")
	sshd, svc, user := sshdTarget(t, s, append(s.args("web1"), "ask_ticket=yes")...)
	dest, port := user+"@127.0.0.1", fmt.Sprint(sshd.Port)
	aliceKey := s.keys["alice"]

	r := s.b.SSHIn(strings.NewReader(oathtool(t, secret, "")+"\n"), aliceKey, "alice", dest, "-p", port, "echo LOGIN_OK")
	if r.Exit != 0 || !strings.Contains(r.Stdout, "LOGIN_OK") {
		t.Fatalf("login with the right code: exit %d stdout %q stderr %q\nsshd: %s", r.Exit, r.Stdout, r.Stderr, sshd.Log())
	}
	if !strings.Contains(r.Stderr, "Gatehouse TOTP code") {
		t.Fatalf("the target's prompt did not reach the person: %q", r.Stderr)
	}
	if strings.Contains(r.Stderr, "Gatehouse ticket") {
		t.Fatalf("the ticket prompt was shown to the person: %q", r.Stderr)
	}
	if c := lastComment(t, s.b); !strings.Contains(c, svc+" on web1 by alice as "+user+": TOTP ok") {
		t.Fatalf("audit comment %q", c)
	}

	r = s.b.SSHIn(strings.NewReader("000000\n"), aliceKey, "alice", dest, "-p", port, "echo LOGIN_OK")
	if r.Exit == 0 || strings.Contains(r.Stdout, "LOGIN_OK") {
		t.Fatalf("login with a wrong code: exit %d stdout %q", r.Exit, r.Stdout)
	}
	if c := lastComment(t, s.b); !strings.Contains(c, "by alice as "+user+": refused: wrong TOTP code") {
		t.Fatalf("audit comment %q", c)
	}
	// No answer at all (stdin closed): refused, nothing allowed by default.
	r = s.b.SSHIn(strings.NewReader(""), aliceKey, "alice", dest, "-p", port, "echo LOGIN_OK")
	if r.Exit == 0 || strings.Contains(r.Stdout, "LOGIN_OK") {
		t.Fatalf("login without an answer: exit %d stdout %q", r.Exit, r.Stdout)
	}

	// As a person types it: an interactive login on a terminal (ssh -t), the code typed at the
	// target's prompt (not echoed), then a shell on the target.
	term := s.b.SSHTerminal(aliceKey, "alice", 100, 30, dest, "-p", port)
	defer term.Close()
	at := term.Expect(0, "Gatehouse TOTP code", 15*time.Second)
	code := oathtool(t, secret, "now + 30 seconds")
	term.Send(code + "\r")
	at = term.Expect(at, "$ ", 15*time.Second)
	term.Send("echo PTY_$((6*7))\r")
	term.Expect(at, "PTY_42", 10*time.Second)
	if strings.Contains(term.Output(), code) {
		t.Fatalf("the code was echoed:\n%s", term.Output())
	}
	term.Send("exit\r")
	term.Wait(10 * time.Second)
	if c := lastComment(t, s.b); !strings.Contains(c, "by alice as "+user+": TOTP ok") {
		t.Fatalf("audit comment %q", c)
	}
}

// TestSSHLoginDirectWithoutBastion: someone who reaches the target's sshd directly (with a
// key that sshd accepts) meets the ticket prompt; pressing Enter, a forged ticket, or alice's
// real ticket replayed with a wrong code are all refused.
func TestSSHLoginDirectWithoutBastion(t *testing.T) {
	need(t)
	s := startSite(t, `MFAMode = "jit"`)
	secret := s.person(t, "alice")
	sshd, _, user := sshdTarget(t, s, append(s.args("web1"), "ask_ticket=yes")...)
	dir := t.TempDir()
	key := filepath.Join(dir, "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	sshd.Authorize(t, strings.TrimSpace(string(pub)))
	if err := os.Chmod(sshd.AuthorizedKeys, 0o644); err != nil {
		t.Fatal(err)
	}
	// The real ssh answers keyboard-interactive through SSH_ASKPASS when it has no terminal:
	// the script answers the ticket prompt with $TICKET and any other with $CODE.
	askpass := filepath.Join(dir, "askpass")
	if err := os.WriteFile(askpass, []byte(`#!/bin/sh
case "$1" in *"Gatehouse ticket"*) printf '%s\n' "$TICKET";; *) printf '%s\n' "$CODE";; esac
`), 0o755); err != nil {
		t.Fatal(err)
	}
	login := func(tkt, code string) (bool, string) {
		cmd := exec.Command("ssh", "-F", "none", "-i", key, "-p", fmt.Sprint(sshd.Port), "-o", "StrictHostKeyChecking=no",
			"-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=no", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10", "-o", "NumberOfPasswordPrompts=1",
			user+"@127.0.0.1", "echo LOGIN_OK")
		cmd.Env = []string{"PATH=/usr/bin:/bin", "SSH_ASKPASS=" + askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0", "TICKET=" + tkt, "CODE=" + code}
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		return err == nil && strings.Contains(string(out), "LOGIN_OK"), string(out)
	}
	// The harness: a valid ticket and the right code log in directly too (a ticket is an
	// identity the bastion signed, not a factor: the factor is what is checked).
	good := s.ticketFor(t, s.ticketKey, "alice", "web1", "127.0.0.1", time.Now(), time.Hour)
	if ok, out := login(good, oathtool(t, secret, "")); !ok {
		t.Fatalf("the reference login was refused:\n%s\nsshd: %s", out, sshd.Log())
	}
	next := oathtool(t, secret, "now + 30 seconds")
	for _, c := range []struct{ name, ticket, code, audit string }{
		{"Enter at the ticket prompt", "", next, ""},
		{"forged ticket", s.ticketFor(t, otherKey(t), "alice", "web1", "127.0.0.1", time.Now(), time.Hour), next, "refused: ticket forged"},
		{"ticket of another server", s.ticketFor(t, s.ticketKey, "alice", "web2", "10.9.9.9", time.Now(), time.Hour), next, "refused: ticket issued for another server"},
		{"alice's ticket, a wrong code", good, "000000", "refused: wrong TOTP code"},
		{"garbage for a ticket", "'; cat /etc/shadow", next, "refused: ticket invalid"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(pamEvents(t, s.b))
			if ok, out := login(c.ticket, c.code); ok {
				t.Fatalf("logged in:\n%s", out)
			}
			n := len(pamEvents(t, s.b)) - before
			if c.audit == "" {
				if n != 0 {
					t.Fatalf("the bastion was asked (%d events)", n)
				}
				return
			}
			if got := lastComment(t, s.b); n != 1 || !strings.Contains(got, c.audit) {
				t.Fatalf("%d events, audit %q, want %q", n, got, c.audit)
			}
		})
	}
}

// TestSSHTargetQuestionsWithoutTicketNotRelayed: a target that asks a password in
// keyboard-interactive without asking for the ticket first (not pam_gatehouse) does not get to
// prompt the person through the bastion: the connection fails as with publickey alone.
func TestSSHTargetQuestionsWithoutTicketNotRelayed(t *testing.T) {
	need(t)
	s := startSite(t, `MFAMode = "jit"`)
	s.person(t, "alice")
	sshd, _, user := sshdTargetStack(t, s, "auth required pam_unix.so")
	r := s.b.SSHIn(strings.NewReader("hunter2\n"), s.keys["alice"], "alice", user+"@127.0.0.1", "-p", fmt.Sprint(sshd.Port), "echo LOGIN_OK")
	if r.Exit == 0 || strings.Contains(r.Stdout, "LOGIN_OK") {
		t.Fatalf("logged in: exit %d stdout %q", r.Exit, r.Stdout)
	}
	if strings.Contains(strings.ToLower(r.Stderr), "password") {
		t.Fatalf("the target's password prompt reached the person: %q", r.Stderr)
	}
	// sshd logs the question it sent as the connection ends: wait for the line.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(sshd.Log(), "Postponed keyboard-interactive") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(sshd.Log(), "Postponed keyboard-interactive") {
		t.Fatalf("the target never asked (the test proves nothing):\n%s", sshd.Log())
	}
}
