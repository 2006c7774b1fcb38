package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/sshtest"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// unixUser creates a throw-away local user who may log in with a key (password "*", not
// locked) and run /bin/true and /usr/bin/true as root through sudo, authenticated by PAM
// service svc and never cached (and /usr/bin/test without a password); all of it is removed at the end.
func unixUser(t *testing.T, svc string) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "ghpam" + hex.EncodeToString(b)
	if out, err := exec.Command("useradd", "-M", "-d", "/tmp", "-s", "/bin/sh", "-p", "*", name).CombinedOutput(); err != nil {
		testenv.Need(t, "useradd: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("userdel", "-f", name).Run() })
	// /usr/bin/test without a password: sudo still loads the PAM stack (and so the module) for
	// it, which is where a Go runtime in sudo's process hung it (sudo#519).
	rule := fmt.Sprintf("Defaults:%[1]s pam_service=%[2]s, timestamp_timeout=0, !lecture\n%[1]s ALL=(root) /bin/true, /usr/bin/true, /bin/sleep, /usr/bin/sleep, NOPASSWD: /usr/bin/test\n", name, svc)
	path := filepath.Join("/etc/sudoers.d", "gatehouse-test-"+name)
	if err := os.WriteFile(path, []byte(rule), 0o440); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	if out, err := exec.Command("visudo", "-cf", path).CombinedOutput(); err != nil {
		t.Fatalf("visudo: %v %s", err, out)
	}
	return name
}

// TestSudoOnTargetThroughGatehouse is the end-to-end test: alice connects through
// gatehouse to a real sshd as a shared local user, runs `sudo -S true` there, answers her own
// TOTP (the same key as at the bastion), and the bastion's audit names her; a wrong code is
// refused.
func TestSudoOnTargetThroughGatehouse(t *testing.T) {
	need(t)
	if _, err := exec.LookPath("sudo"); err != nil {
		testenv.Need(t, "needs sudo")
	}
	// JIT mode: the bastion does not ask alice's TOTP at login here (immediate mode would, and
	// the sudo would then need the next code, the one of the login being used up).
	s := startSite(t, `MFAMode = "jit"`)
	secret := s.person(t, "alice")
	svc := pamService(t, s.args("web1")...)
	user := unixUser(t, svc)
	sshd := sshtest.StartSSHDWith(t, sshtest.Options{Extra: []string{"AcceptEnv GATEHOUSE_TICKET"}})
	aliceKey := s.keys["alice"]
	r := s.b.SSH(aliceKey, "alice", "--json-greppable", "--osh", "selfListEgressKeys")
	for _, k := range r.JSON()["value"].(map[string]any) { // one key, under its fingerprint
		sshd.Authorize(t, k.(map[string]any)["line"].(string))
	}
	// sshd reads authorized_keys as the user: open the test's directories to them (the host
	// key stays 0600, read by root).
	for _, p := range []string{filepath.Dir(sshd.Dir), sshd.Dir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(sshd.AuthorizedKeys, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.b.App.Store.AddACL(context.Background(), store.ACLEntry{Kind: store.ACLPersonal, Owner: "alice",
		Host: "127.0.0.1", User: user, Port: sshd.Port, AddedBy: "admin", AddedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	dest, port := user+"@127.0.0.1", fmt.Sprint(sshd.Port)

	// `sudo -S true` exits at once: with the Go runtime inside sudo (the c-shared module of
	// before) sudo 1.9.13 could lose its SIGCHLD and hang (sudo#519; TestSudoTrueDoesNotHang).
	// The ticket reached the shared account's shell.
	r = s.b.SSH(aliceKey, "alice", dest, "-p", port, `echo "ticket=${GATEHOUSE_TICKET:+yes}"`)
	if !strings.Contains(r.Stdout, "ticket=yes") {
		t.Fatalf("no GATEHOUSE_TICKET on the target: exit %d stdout %q stderr %q", r.Exit, r.Stdout, r.Stderr)
	}

	r = s.b.SSHIn(strings.NewReader(oathtool(t, secret, "")+"\n"), aliceKey, "alice", dest, "-p", port, "sudo -S true && echo SUDO_OK")
	if r.Exit != 0 || !strings.Contains(r.Stdout, "SUDO_OK") {
		t.Fatalf("sudo with the right code: exit %d stdout %q stderr %q", r.Exit, r.Stdout, r.Stderr)
	}
	if !strings.Contains(r.Stderr, "Gatehouse TOTP code") {
		t.Fatalf("the code was not asked through the conversation: %q", r.Stderr)
	}
	ev := pamEvents(t, s.b)
	last, _ := json.Marshal(ev[len(ev)-1])
	for _, want := range []string{"sudo on web1 by alice as " + user + ": TOTP ok", `"ruser":"` + user + `"`, "sudo -S true"} {
		if !strings.Contains(string(last), want) {
			t.Fatalf("audit event lacks %q: %s", want, last)
		}
	}
	// The event names the bastion session the sudo happened in (its recording).
	sessions, err := s.b.App.Store.ListSessions(context.Background(), store.SessionFilter{Account: "alice", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, se := range sessions {
		if strings.Contains(string(last), se.ID) && se.ID != "" {
			found = true
		}
	}
	if !found {
		t.Fatalf("the audit event names no session of alice: %s", last)
	}

	// 30 sudos of a command that exits at once, in one session through gatehouse: none hangs.
	// (/usr/bin/test needs no code, but sudo loads the module all the same: the c-shared module
	// of before hung 11 of 30 of these.)
	r = s.b.SSH(aliceKey, "alice", dest, "-p", port, `n=0; for i in $(seq 30); do timeout -s KILL 10 sudo -n test 1 = 1 || n=$((n+1)); done; echo "hung_or_failed=$n"`)
	if !strings.Contains(r.Stdout, "hung_or_failed=0") {
		t.Fatalf("sudo hung or failed: exit %d stdout %q stderr %q", r.Exit, r.Stdout, r.Stderr)
	}

	r = s.b.SSHIn(strings.NewReader("000000\n"), aliceKey, "alice", dest, "-p", port, "sudo -S true && echo SUDO_OK")
	if r.Exit == 0 || strings.Contains(r.Stdout, "SUDO_OK") {
		t.Fatalf("sudo with a wrong code: exit %d stdout %q", r.Exit, r.Stdout)
	}
	if c := lastComment(t, s.b); !strings.Contains(c, "sudo on web1 by alice as "+user+": refused: wrong TOTP code") {
		t.Fatalf("audit comment %q", c)
	}

	// Attacks from a shell on the target (anyone on the shared account can run them).
	sudo := func(prelude, stdin string) (bool, string) {
		r := s.b.SSHIn(strings.NewReader(stdin), aliceKey, "alice", dest, "-p", port, prelude+" sudo -S true && echo SUDO_OK")
		return r.Exit == 0 && strings.Contains(r.Stdout, "SUDO_OK"), lastComment(t, s.b)
	}
	next := oathtool(t, secret, "now + 30 seconds")
	// A ticket whose payload was edited (alice → anyone): the signature no longer matches.
	if ok, c := sudo(`GATEHOUSE_TICKET=$(printf %s "$GATEHOUSE_TICKET" | sed 's/^gt1\.e/gt1.f/'); export GATEHOUSE_TICKET;`, next+"\n"); ok || !strings.Contains(c, "by ? as "+user+": refused: ticket") {
		t.Fatalf("edited ticket: allowed=%v audit %q", ok, c)
	}
	// Bob's ticket, stolen from another session on this account, with alice's own code: the
	// ticket says bob, so bob's factor is asked, and alice does not have it.
	s.person(t, "bob")
	bobs := s.ticketFor(t, s.ticketKey, "bob", "web1", "127.0.0.1", time.Now(), time.Hour)
	if ok, c := sudo("GATEHOUSE_TICKET="+bobs+"; export GATEHOUSE_TICKET;", next+"\n"); ok || !strings.Contains(c, "by bob as "+user+": refused: wrong TOTP code") {
		t.Fatalf("stolen ticket: allowed=%v audit %q", ok, c)
	}
	// No ticket at all (unset): refused by the module before the bastion is asked.
	if ok, _ := sudo("unset GATEHOUSE_TICKET;", next+"\n"); ok {
		t.Fatal("sudo without a ticket was allowed")
	}
	// Guessing codes: sudo gives three tries per run; after six failures the bastion's MFA
	// lock (The Bastion's pam_faillock deny=6) refuses even the right code.
	for _, guesses := range []string{"000001\n000002\n000003\n", "000004\n000005\n000006\n"} {
		if ok, _ := sudo("", guesses); ok {
			t.Fatal("a guess was allowed")
		}
	}
	if ok, c := sudo("", next+"\n"); ok || !strings.Contains(c, "refused: too many tries") {
		t.Fatalf("right code after guesses: allowed=%v audit %q", ok, c)
	}
}
