package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// TestSSHAs: an admin connects to a server as another account (its access, its key) with
// --ssh-as; the line and the audit carry both names. Everyone else, and every misuse, is refused
// with The Bastion's exit status, and the attempt is audited.
func TestSSHAs(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	dest, port := sshd.User+"@127.0.0.1", fmt.Sprint(sshd.Port)

	// The admin has no access of its own to the target.
	if r := b.Admin(dest, "-p", port, "echo", "x"); r.Exit != 107 {
		t.Fatalf("the admin reaches the target without --ssh-as: exit %d %s", r.Exit, r.Stderr)
	}
	r := b.Admin("--ssh-as", "alice", dest, "-p", port, "echo", "as-alice")
	if r.Exit != 0 || strings.TrimSpace(r.Stdout) != "as-alice" ||
		!strings.Contains(r.Stderr, "ADMIN SUDO: admin, you'll now impersonate alice, this has been logged.") {
		t.Fatalf("--ssh-as: exit %d\nstdout %q\nstderr %s", r.Exit, r.Stdout, r.Stderr)
	}
	auditHas(t, b, "security", `"account":"admin"`, `"sudo-as":"alice"`, `"type":"admin-ssh-as"`, `"plugin":"ssh"`)
	auditHas(t, b, "connection.open", `"account":"alice"`, `"sudo_user":"admin"`)
	auditHas(t, b, "sshas", `"account":"admin"`, `"allowed":true`)

	for _, tc := range []struct {
		key, account string
		words        []string
		exit         int
		code, msg    string
	}{
		{aliceKey, "alice", []string{"--ssh-as", "admin", dest, "-p", port, "true"}, 106, "KO_RESTRICTED_COMMAND", "reserved to bastion administrators"},
		{b.AdminKey, "admin", []string{"--ssh-as", "alice", "--osh", "info"}, 115, "KO_CONFLICTING_OPTIONS", "Can't use --ssh-as and --osh together"},
		{b.AdminKey, "admin", []string{"--ssh-as", "nobody", dest, "-p", port, "true"}, 107, "KO_INVALID_ACCOUNT", "the specified account (nobody) is invalid"},
		{b.AdminKey, "admin", []string{"--ssh-as", "'bad name'", dest, "-p", port, "true"}, 107, "KO_INVALID_ACCOUNT", "is invalid"},
		{b.AdminKey, "admin", []string{"--ssh-as", "alice"}, 112, "KO_NO_HOST", "no host to connect to"},
	} {
		r := b.SSH(tc.key, tc.account, append([]string{"--json-greppable"}, tc.words...)...)
		if r.Exit != tc.exit || r.Code() != tc.code || !strings.Contains(r.Stdout, tc.msg) {
			t.Errorf("%s %v: exit %d code %q, want %d %s %q\n%s", tc.account, tc.words, r.Exit, r.Code(), tc.exit, tc.code, tc.msg, r.Stdout)
		}
	}
	auditHas(t, b, "sshas", `"account":"alice"`, `"allowed":false`, `"sudo-as":"admin"`)

	// The impersonated account's second factors apply (the admin's own proofs do not stand for
	// them): alice must have a TOTP and has none, so the connection is refused, fail closed.
	b.MustOK("--osh", "accountModify", "--account", "alice", "--mfa-totp-required", "yes")
	if r := b.Admin("--ssh-as", "alice", dest, "-p", port, "echo", "leak"); r.Exit != 123 || strings.Contains(r.Stdout, "leak") {
		t.Errorf("--ssh-as skipped the impersonated account's MFA: exit %d (want 123)\n%s%s", r.Exit, r.Stdout, r.Stderr)
	}
	if r := b.Admin("--proactive-mfa", "--ssh-as", "alice", dest, "-p", port, "echo", "leak"); r.Exit == 0 || strings.Contains(r.Stdout, "leak") {
		t.Errorf("--ssh-as with the admin's proactive MFA: exit %d\n%s%s", r.Exit, r.Stdout, r.Stderr)
	}
	b.MustOK("--osh", "accountModify", "--account", "alice", "--mfa-totp-required", "no")

	// A frozen account stays frozen, impersonated or not.
	b.MustOK("--osh", "accountFreeze", "--account", "alice")
	if r := b.Admin("--ssh-as", "alice", dest, "-p", port, "true"); r.Exit != 131 {
		t.Errorf("--ssh-as a frozen account: exit %d %s", r.Exit, r.Stdout)
	}
}

// TestWaitConnect: --wait probes the target's port once a second until it opens, says so as The
// Bastion does, then connects. The target's port opens only after the client started waiting.
func TestWaitConnect(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	// A port that refuses, then forwards to the sshd once the wait has begun.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--user", sshd.User, "--port", fmt.Sprint(port), "--force")
	// --wait never probes what the account may not reach: the decision comes first (no port
	// scanning through --wait).
	if r := b.SSH(aliceKey, "alice", "--wait", "root@127.0.0.2", "-p", fmt.Sprint(port), "true"); r.Exit != 107 || strings.Contains(r.Stderr, "Waiting for port") {
		t.Fatalf("--wait to a denied target: exit %d\n%s", r.Exit, r.Stderr)
	}
	// The host key is the sshd's, under another port: accept it as new.
	args := append(b.SSHArgs(aliceKey, "alice"), "--", "--wait", sshd.User+"@127.0.0.1", "-p", fmt.Sprint(port), "echo", "up")
	cmd := exec.Command("ssh", args...)
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	var all strings.Builder
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			all.WriteString(sc.Text() + "\n")
			mu.Unlock()
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitFor := func(s string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					mu.Lock()
					defer mu.Unlock()
					t.Fatalf("no %q:\n%s", s, all.String())
				}
				if strings.Contains(l, s) {
					return
				}
			case <-deadline:
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("no %q within 20 s:\n%s", s, all.String())
			}
		}
	}
	waitFor(fmt.Sprintf("Waiting for port %d to be open on 127.0.0.1 before attempting to connect...", port))
	fwd, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	go forward(fwd, sshd.Addr)
	waitFor("Alive after waiting for ")
	waitFor("Connecting to")
	go func() {
		for range lines {
		}
	}()
	if err := cmd.Wait(); err != nil || strings.TrimSpace(stdout.String()) != "up" {
		t.Fatalf("ssh --wait: %v, stdout %q\n%s", err, stdout.String(), all.String())
	}
}

// forward relays every connection ln accepts to addr.
func forward(ln net.Listener, addr string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			d, err := (&net.Dialer{}).DialContext(context.Background(), "tcp", addr)
			if err != nil {
				return
			}
			defer d.Close()
			go func() { _, _ = io.Copy(d, c); d.(*net.TCPConn).CloseWrite() }()
			_, _ = io.Copy(c, d)
		}()
	}
}

// TestEscapeOptions: --never-escape and --always-escape are accepted before the host (the
// Ansible wrapper sends --never-escape); the remote command goes as typed, or with The Bastion's
// legacy escaping of single quotes under --always-escape.
func TestEscapeOptions(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	dest, port := sshd.User+"@127.0.0.1", fmt.Sprint(sshd.Port)
	r := b.SSH(aliceKey, "alice", "--never-escape", dest, "-p", port, "--", `echo 'a  b'`)
	if r.Exit != 0 || r.Stdout != "a  b\n" {
		t.Errorf("--never-escape: exit %d %q %s", r.Exit, r.Stdout, r.Stderr)
	}
	r = b.SSH(aliceKey, "alice", "--always-escape", dest, "-p", port, "--", `echo 'a  b'`)
	if r.Exit != 0 || r.Stdout != "'a b'\n" {
		t.Errorf("--always-escape: exit %d %q %s", r.Exit, r.Stdout, r.Stderr)
	}

	// With remoteCommandEscapeByDefault (The Bastion's ancient default), --never-escape undoes it.
	b2 := testenv.Start(t, testenv.Options{Config: "remoteCommandEscapeByDefault = true\n"})
	sshd2, aliceKey2 := targetSetup(t, b2)
	dest2, port2 := sshd2.User+"@127.0.0.1", fmt.Sprint(sshd2.Port)
	if r := b2.SSH(aliceKey2, "alice", dest2, "-p", port2, "--", `echo 'a  b'`); r.Stdout != "'a b'\n" {
		t.Errorf("escaped by default: %q %s", r.Stdout, r.Stderr)
	}
	if r := b2.SSH(aliceKey2, "alice", "--never-escape", dest2, "-p", port2, "--", `echo 'a  b'`); r.Stdout != "a  b\n" {
		t.Errorf("--never-escape over the default: %q %s", r.Stdout, r.Stderr)
	}
}
