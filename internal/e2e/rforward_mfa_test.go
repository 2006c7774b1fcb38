package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// kbdForward starts the real ssh -N with the askpass environment (codes of secret) and args;
// the test ends it.
func (k *kbdJump) kbdForward(t *testing.T, secret string, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ssh", append([]string{"-N", "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=INFO"}, args...)...)
	cmd.Env = append(append(os.Environ(), k.env...), "GH_TOTP_SECRET="+secret)
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	return cmd, &errb
}

// waitExit waits for cmd to end by itself.
func waitExit(t *testing.T, cmd *exec.Cmd, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("%s: ssh succeeded", what)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: ssh still running", what)
	}
}

// TestRemoteForwardJITMFA: a target that needs a second factor at connection time (JIT, on the
// transparent ways) cannot be made to listen with ssh -R unless the factor was answered: a
// client that cannot answer (BatchMode) is refused before the bastion logs in to the target,
// through ProxyJump and through the target in the user name, and nothing listens; the same
// client answering with its own prompt (keyboard-interactive, oathtool's code) gets its -R.
func TestRemoteForwardJITMFA(t *testing.T) {
	k := startKbdJump(t)
	echo := echoServer(t)
	sshPort := fmt.Sprint(k.sshd.Port)
	port := freePort(t)
	k.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(port), "--remote-forward")
	spec := fmt.Sprintf("%d:127.0.0.1:%d", port, echo)
	ways := []struct {
		name string
		args []string
	}{
		{"jump", []string{"-p", sshPort, k.target()}},
		{"user name", []string{"-o", "User=" + k.userTarget(), "bastion"}},
	}
	logins := accepted(k.jumpEnv)
	for _, w := range ways {
		cmd, errb := k.kbdForward(t, k.secret, append([]string{"-F", k.cfg, "-R", spec}, w.args...)...)
		waitExit(t, cmd, w.name+" without a prompt")
		listening(t, port, false)
		if accepted(k.jumpEnv) != logins {
			t.Fatalf("%s: the bastion logged in to the target for a -R whose MFA was not answered (ssh: %q)", w.name, errb.String())
		}
	}
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			cmd, errb := k.kbdForward(t, k.secret, append([]string{"-F", k.cfgKbd, "-R", spec}, w.args...)...)
			listening(t, port, true)
			line := "mfa-" + filepath.Base(w.name)
			if got := talk(t, port, line); got != "echo:"+line {
				t.Fatalf("-R after the code: %q (ssh: %q)", got, errb.String())
			}
			waitAudit(t, k.b, "forward.listen", map[string]any{"account": "alice", "port_to": fmt.Sprint(port), "direction": "remote"})
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			listening(t, port, false)
		})
	}
	waitAudit(t, k.b, "mfa.pass", map[string]any{"account": "alice", "stage": "jit", "via": "keyboard-interactive"})

	// -L inside the jump: the same rule (the target connects only for a connection that answered).
	k.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(echo), "--forward")
	lport := freePort(t)
	lspec := fmt.Sprintf("%d:127.0.0.1:%d", lport, echo)
	cmd, _ := k.kbdForward(t, k.secret, "-F", k.cfg, "-L", lspec, "-p", sshPort, k.target())
	waitExit(t, cmd, "-L without a prompt")
	// The askpass now gives the next 30 s step's code: the two before were used above.
	_, errb := k.kbdForward(t, k.secret, "-F", k.cfgKbd, "-L", lspec, "-p", sshPort, k.target())
	listening(t, lport, true)
	if got := talk(t, lport, "mfa-local"); got != "echo:mfa-local" {
		t.Fatalf("-L after the code: %q (ssh: %q)", got, errb.String())
	}
	waitAudit(t, k.b, "forward.close", map[string]any{"account": "alice", "port_to": fmt.Sprint(echo), "direction": "local"})
}

// TestForwardMFARequiredSince: a connection opened when the target needed no second factor
// keeps no way around one required since. Through a ControlMaster: a new -R (ssh -O forward),
// a new connection on a -R listener opened before, and a new -L connection inside the jump
// are all refused (fail closed: no prompt is possible there), and audited; a session asked on
// the same connection is refused as well.
func TestForwardMFARequiredSince(t *testing.T) {
	j := startJumpWith(t, testenv.Options{Config: "MFAMode = \"jit\"\nperSourcePenalties = false\n"})
	enrolTOTP(t, j.b, "alice")
	echo := echoServer(t)
	sshPort := fmt.Sprint(j.sshd.Port)
	p1, p2, lport := freePort(t), freePort(t), freePort(t)
	for _, p := range []int{p1, p2} {
		j.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(p), "--remote-forward")
	}
	j.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(echo), "--forward")
	sock := filepath.Join(t.TempDir(), "cm")
	_, errb := jumpForwardCmd(t, j, []int{lport}, "-M", "-S", sock, "-p", sshPort,
		"-R", fmt.Sprintf("%d:127.0.0.1:%d", p1, echo), "-L", fmt.Sprintf("%d:127.0.0.1:%d", lport, echo), j.target())
	listening(t, p1, true)
	if got := talk(t, p1, "r-before"); got != "echo:r-before" {
		t.Fatalf("-R before: %q (ssh: %q)", got, errb.String())
	}
	if got := talk(t, lport, "l-before"); got != "echo:l-before" {
		t.Fatalf("-L before: %q (ssh: %q)", got, errb.String())
	}

	j.b.MustOK("--osh", "accountModify", "--account", "alice", "--mfa-totp-required", "yes")
	refusals := countAudit(t, j.b, "mfa.phase_refused", map[string]any{"account": "alice", "error_code": "KO_MFA_FAILED"})

	// A new -R through the master: refused, nothing listens.
	out, err := exec.Command("ssh", "-F", j.cfg, "-S", sock, "-O", "forward", "-R", fmt.Sprintf("%d:127.0.0.1:%d", p2, echo), "-p", sshPort, j.target()).CombinedOutput()
	if err == nil {
		t.Fatalf("ssh -O forward -R after MFA became required: %s", out)
	}
	listening(t, p2, false)
	waitAudit(t, j.b, "forward.denied", map[string]any{"account": "alice", "port_to": fmt.Sprint(p2), "direction": "remote"})
	// A new connection on the listener opened before: refused; the target stops listening.
	if got := talk(t, p1, "r-after"); got != "" {
		t.Fatalf("-R connection after MFA became required: %q", got)
	}
	listening(t, p1, false)
	// A new -L connection: refused.
	if got := talk(t, lport, "l-after"); got != "" {
		t.Fatalf("-L connection after MFA became required: %q", got)
	}
	waitAuditCount(t, j.b, "mfa.phase_refused", map[string]any{"account": "alice", "error_code": "KO_MFA_FAILED"}, refusals+3)
	// And a session on the same connection (as before this change).
	if out, err := exec.Command("ssh", "-F", j.cfg, "-S", sock, "-p", sshPort, j.target(), "echo", "in").CombinedOutput(); err == nil {
		t.Fatalf("a session after MFA became required: %s", out)
	}
}
