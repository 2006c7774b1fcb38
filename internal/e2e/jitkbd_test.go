package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gatehouse/internal/testenv"
)

// kbdJump is a jump environment whose targets need alice's TOTP (JIT mode, her own
// --mfa-totp-required yes), with an ssh_config that lets the clients answer keyboard-interactive
// through SSH_ASKPASS (no terminal): the askpass answers with oathtool's code for the previous,
// the current, then the next 30 s step, since each code is accepted once.
type kbdJump struct {
	*jumpEnv
	secret string
	cfgKbd string
	env    []string
}

func startKbdJump(t *testing.T) *kbdJump {
	t.Helper()
	return startKbdJumpMode(t, "jit")
}

// startKbdJumpMode is startKbdJump with MFAMode mode ("immediate": the TOTP is asked when the
// connection to the bastion logs in; "jit": when a target needs it).
func startKbdJumpMode(t *testing.T, mode string) *kbdJump {
	t.Helper()
	j := startJumpWith(t, testenv.Options{Config: "MFAMode = \"" + mode + "\"\nperSourcePenalties = false\n"})
	secret := enrolTOTP(t, j.b, "alice")
	j.b.MustOK("--osh", "accountModify", "--account", "alice", "--mfa-totp-required", "yes")
	body, err := os.ReadFile(j.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(j.dir, "ssh_config_kbd")
	kbd := strings.Replace(string(body), "  BatchMode yes\n", "  BatchMode no\n  KbdInteractiveAuthentication yes\n  NumberOfPasswordPrompts 1\n", 1)
	if err := os.WriteFile(cfg, []byte(kbd), 0o600); err != nil {
		t.Fatal(err)
	}
	ask := filepath.Join(j.dir, "askpass")
	script := `#!/bin/sh
n=$(cat "$GH_COUNT" 2>/dev/null || echo 0); echo $((n+1)) > "$GH_COUNT"
case "$1" in *code*|*Code*) ;; *) exit 1;; esac
[ -f "$GH_COUNT.replay" ] && exec cat "$GH_COUNT.replay"
case $n in 0) w="now - 30 seconds";; 1) w="now";; *) w="now + 30 seconds";; esac
c=$(oathtool --totp -b "$GH_TOTP_SECRET" -N "$w") || exit 1
echo "$c" > "$GH_COUNT.last"; echo "$c"
`
	if err := os.WriteFile(ask, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	env := []string{"SSH_ASKPASS=" + ask, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=:0", "GH_COUNT=" + filepath.Join(j.dir, "askpass.count")}
	return &kbdJump{jumpEnv: j, secret: secret, cfgKbd: cfg, env: env}
}

// runKbd runs a client with the askpass environment; secret is what oathtool computes codes of.
func (k *kbdJump) runKbd(t *testing.T, secret, name string, args ...string) (string, string, int) {
	t.Helper()
	return k.runKbdIn(t, "", secret, name, args...)
}

// runKbdIn is runKbd with stdin.
func (k *kbdJump) runKbdIn(t *testing.T, stdin, secret, name string, args ...string) (string, string, int) {
	t.Helper()
	for _, e := range append(k.env, "GH_TOTP_SECRET="+secret) {
		kv := strings.SplitN(e, "=", 2)
		t.Setenv(kv[0], kv[1])
	}
	return k.run(t, stdin, name, args...)
}

// TestJumpJITMFAKeyboardInteractive: a target that needs a second factor (JIT) is reached by
// scp, sftp and ssh with no terminal, through ProxyJump and through the target in the user name:
// the client's own prompt (here SSH_ASKPASS with oathtool) answers the TOTP asked by
// keyboard-interactive while the inner (or outer) connection authenticates. A wrong code, or a
// client that cannot answer (BatchMode), gets nothing through: nothing is written, and the audit
// says why.
func TestJumpJITMFAKeyboardInteractive(t *testing.T) {
	k := startKbdJump(t)
	port := fmt.Sprint(k.sshd.Port)
	remote := t.TempDir()
	src := filepath.Join(k.dir, "mfa.bin")
	data := randomFile(t, src, 150*1024+9)

	// Without a prompt (BatchMode: no keyboard-interactive) the transfer is refused, as before.
	if _, errs, code := k.runKbd(t, k.secret, "scp", "-F", k.cfg, "-P", port, src, k.target()+":"+remote+"/batch.bin"); code == 0 {
		t.Fatalf("scp without a prompt passed the JIT MFA: %q", errs)
	}
	if entries, _ := os.ReadDir(remote); len(entries) != 0 {
		t.Fatalf("written without MFA: %v", entries)
	}
	// ProxyJump: scp in SFTP mode, the code asked on the client's prompt.
	if out, errs, code := k.runKbd(t, k.secret, "scp", "-F", k.cfgKbd, "-P", port, src, k.target()+":"+remote+"/jump.bin"); code != 0 {
		t.Fatalf("scp through the jump with the code: exit %d %q %q", code, out, errs)
	}
	sameFile(t, filepath.Join(remote, "jump.bin"), data)
	waitAudit(t, k.b, "mfa.pass", map[string]any{"account": "alice", "stage": "jit", "via": "keyboard-interactive"})
	waitAudit(t, k.b, "sftp.close", map[string]any{"account": "alice", "path": remote + "/jump.bin", "sha256_written": fmt.Sprintf("%x", sha256Sum(data))})

	// The target in the user name: sftp, its commands on stdin (sftp -b would forbid any prompt).
	if out, errs, code := k.runKbdIn(t, fmt.Sprintf("put %s %s/user.bin\n", src, remote), k.secret, "sftp", "-F", k.cfgKbd, "-o", "User="+k.userTarget(), "bastion"); code != 0 {
		t.Fatalf("sftp with the target in the user name: exit %d %q %q", code, out, errs)
	}
	sameFile(t, filepath.Join(remote, "user.bin"), data)

	// An exec through the jump: the third code.
	if out, errs, code := k.runKbd(t, k.secret, "ssh", "-F", k.cfgKbd, "-p", port, k.target(), "echo mfa-$((40+2))"); code != 0 || !strings.Contains(out, "mfa-42") {
		t.Fatalf("ssh exec through the jump: exit %d %q %q", code, out, errs)
	}
	// A code already used is refused (replay): the askpass gives again the very code the exec
	// above used (recomputing "the next step's" would give a fresh code once the wall clock
	// crossed a 30 s step between the two: the test then failed, not the replay guard).
	last, err := os.ReadFile(filepath.Join(k.dir, "askpass.count.last"))
	if err != nil {
		t.Fatal(err)
	}
	replay := filepath.Join(k.dir, "askpass.count.replay")
	if err := os.WriteFile(replay, last, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := k.runKbd(t, k.secret, "ssh", "-F", k.cfgKbd, "-p", port, k.target(), "echo replay"); code == 0 {
		t.Fatalf("a used code passed again: %q", errs)
	}
	if err := os.Remove(replay); err != nil {
		t.Fatal(err)
	}
	// A wrong code: refused, nothing written, audited.
	wrong := enrolTOTPSecretOnly(t)
	if _, errs, code := k.runKbd(t, wrong, "scp", "-F", k.cfgKbd, "-P", port, src, k.target()+":"+remote+"/wrong.bin"); code == 0 {
		t.Fatalf("scp with a wrong code passed: %q", errs)
	}
	waitAudit(t, k.b, "mfa.fail", map[string]any{"account": "alice", "stage": "jit", "via": "keyboard-interactive"})
	if _, err := os.Stat(filepath.Join(remote, "wrong.bin")); err == nil {
		t.Fatal("written with a wrong code")
	}

}

// enrolTOTPSecretOnly is a TOTP secret nobody enrolled (codes of it are wrong for everyone).
func enrolTOTPSecretOnly(t *testing.T) string {
	t.Helper()
	return "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
}

// TestJumpJITApprovalKeyboardInteractive: a target whose group requires a chat approval, reached
// through ProxyJump with no terminal: the inner connection's keyboard-interactive shows the
// request on the client's own stderr and waits; bob's approval lets the connection through,
// his denial keeps it from the target.
func TestJumpJITApprovalKeyboardInteractive(t *testing.T) {
	b, key, slack, port, attempts := factorBastion(t, "perSourcePenalties = false\n", "approval")
	dir := t.TempDir()
	body, err := os.ReadFile(writeJumpConfig(t, b, key, dir))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "ssh_config_kbd")
	kbd := strings.Replace(string(body), "  BatchMode yes\n", "  BatchMode no\n  KbdInteractiveAuthentication yes\n", 1)
	if err := os.WriteFile(cfg, []byte(kbd), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		action   string
		attempts int
	}{{"gatehouse_approve", 1}, {"gatehouse_deny", 1}} {
		cmd, errb, label, cancel := startForApproval(t, "", c.action, "ssh", "-F", cfg, "-p", port, "root@127.0.0.1", "true")
		if attempts() != i {
			t.Fatalf("%s: the target was reached before the decision", c.action)
		}
		decideApproval(t, b, slack, label, c.action)
		_ = cmd.Wait()
		cancel()
		if attempts() != c.attempts {
			t.Fatalf("%s: %d connections to the target, want %d; client said %q", c.action, attempts(), c.attempts, errb.String())
		}
	}
	waitAudit(t, b, "mfa.pass", map[string]any{"account": "alice", "factor": "approval", "stage": "jit"})
}

// syncBuffer is a bytes.Buffer a child process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
