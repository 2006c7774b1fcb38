package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// freePort returns a loopback port nothing listens on (the target side's listen port).
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// listening waits until 127.0.0.1:port accepts (want) or refuses (!want) connections.
func listening(t *testing.T, port int, want bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
		}
		if (err == nil) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("port %d: listening=%v never came (%v)", port, want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// remoteForwardCmd starts the real ssh with args (a -R and its target), -N, and returns it
// with its stderr; the test ends it.
func remoteForwardCmd(t *testing.T, j *jumpEnv, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ssh", append([]string{"-F", j.cfg, "-N", "-o", "ExitOnForwardFailure=yes"}, args...)...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	return cmd, &errb
}

// TestRemoteForwardThroughJumpAndUserName: ssh -R through gatehouse has the TARGET listen on the
// granted port (a --remote-forward grant for that port on that host, besides the SSH access):
// a connection made on the target's side reaches a listener on the client's side, bytes intact,
// both through ProxyJump and with the target in the user name; each connection is audited
// with its bytes both ways. Another port, no grant, a --forward (local) grant, port 0, and -R
// on a connection without a target are refused with an audit event, and nothing listens.
func TestRemoteForwardThroughJumpAndUserName(t *testing.T) {
	j := startJump(t)
	echo := echoServer(t) // the client side's service
	sshPort := fmt.Sprint(j.sshd.Port)
	granted, other := freePort(t), freePort(t)

	// Bad grants: clear errors, nothing added.
	for _, args := range [][]string{
		{"--port-any", "--remote-forward"}, {"--remote-forward"}, {"--port", fmt.Sprint(granted), "--remote-forward", "--forward"},
		{"--port", fmt.Sprint(granted), "--remote-forward", "--user", "root"},
	} {
		if r := j.b.Admin(append([]string{"--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1"}, args...)...); r.Exit == 0 {
			t.Fatalf("grant %v accepted: %s", args, r.Stdout)
		}
	}
	j.b.MustOK("--osh", "accountGrantCommand", "--account", "alice", "--command", "selfAddPersonalAccess")
	if r := j.b.SSH(j.aliceKey, "alice", "--osh", "selfAddPersonalAccess", "--host", "127.0.0.1", "--port", fmt.Sprint(granted), "--remote-forward"); r.Exit == 0 || !strings.Contains(r.Stdout, "cannot be given to yourself") {
		t.Fatalf("selfAddPersonalAccess --remote-forward accepted: %s", r.Stdout)
	}

	// No grant yet (a local --forward on that port does not count): refused, audited, nothing listens.
	j.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(granted), "--forward")
	cmd, errb := remoteForwardCmd(t, j, "-p", sshPort, "-R", fmt.Sprintf("%d:127.0.0.1:%d", granted, echo), j.target())
	if err := cmd.Wait(); err == nil || !strings.Contains(errb.String(), "remote port forwarding failed") {
		t.Fatalf("ssh -R without a grant: %v %q", err, errb.String())
	}
	waitAudit(t, j.b, "forward.denied", map[string]any{"account": "alice", "port_to": fmt.Sprint(granted), "direction": "remote"})
	listening(t, granted, false)

	j.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(granted), "--remote-forward")
	r := j.b.MustOK("--json-greppable", "--osh", "accountListAccesses", "--account", "alice")
	if !strings.Contains(r.Stdout, "!remote-forward") || !strings.Contains(r.Stdout, `"forward":"remote"`) || !strings.Contains(r.Stdout, `"forward":"local"`) {
		t.Fatalf("the listing does not tell the two grants apart: %s", r.Stdout)
	}

	for _, way := range []struct {
		name string
		args []string
	}{
		{"jump", []string{"-p", sshPort, j.target()}},
		{"user name", []string{"-o", "User=" + j.userTarget(), "bastion"}},
	} {
		t.Run(way.name, func(t *testing.T) {
			args := append([]string{"-R", fmt.Sprintf("%d:127.0.0.1:%d", granted, echo)}, way.args...)
			cmd, errb := remoteForwardCmd(t, j, args...)
			listening(t, granted, true) // the target's sshd listens, not the bastion
			line := "through-" + strings.ReplaceAll(way.name, " ", "-")
			if got := talk(t, granted, line); got != "echo:"+line {
				t.Fatalf("a connection on the target's side got %q (ssh: %q)", got, errb.String())
			}
			waitAudit(t, j.b, "forward.listen", map[string]any{"account": "alice", "port_to": fmt.Sprint(granted), "host_to": "127.0.0.1", "direction": "remote"})
			waitAudit(t, j.b, "forward.open", map[string]any{"account": "alice", "port_to": fmt.Sprint(granted), "direction": "remote"})
			want := map[string]any{"account": "alice", "port_to": fmt.Sprint(granted), "direction": "remote",
				"bytes_in": fmt.Sprint(len("echo:" + line + "\n")), "bytes_out": fmt.Sprint(len(line + "\n"))}
			waitAudit(t, j.b, "forward.close", want)
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			listening(t, granted, false) // the client gone, the target stops listening
		})
	}

	// Another port than the granted one, and port 0 (the target's choice): refused.
	for _, spec := range []string{fmt.Sprintf("%d:127.0.0.1:%d", other, echo), fmt.Sprintf("0:127.0.0.1:%d", echo)} {
		cmd, errb := remoteForwardCmd(t, j, "-p", sshPort, "-R", spec, j.target())
		if err := cmd.Wait(); err == nil || !strings.Contains(errb.String(), "remote port forwarding failed") {
			t.Fatalf("ssh -R %s: %v %q", spec, err, errb.String())
		}
	}
	waitAudit(t, j.b, "forward.denied", map[string]any{"account": "alice", "port_to": fmt.Sprint(other)})
	listening(t, other, false)

	// -R on the bastion itself (no target): refused with the reason in the audit.
	cmd, errb = remoteForwardCmd(t, j, "-R", fmt.Sprintf("%d:127.0.0.1:%d", granted, echo), "bastion")
	if err := cmd.Wait(); err == nil || !strings.Contains(errb.String(), "remote port forwarding failed") {
		t.Fatalf("ssh -R to the bastion itself: %v %q", err, errb.String())
	}
	waitAudit(t, j.b, "forward.denied", map[string]any{"account": "alice", "direction": "remote"})

	// Revoked: refused again.
	j.b.MustOK("--osh", "accountDelPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(granted), "--remote-forward")
	cmd, errb = remoteForwardCmd(t, j, "-p", sshPort, "-R", fmt.Sprintf("%d:127.0.0.1:%d", granted, echo), j.target())
	if err := cmd.Wait(); err == nil {
		t.Fatalf("ssh -R after the grant was revoked: %q", errb.String())
	}
}

// TestRemoteForwardCancel: through a ControlMaster, -O forward adds a second -R on the same
// connection and -O cancel sends cancel-tcpip-forward: the target stops listening on that port
// only, and the cancel is audited.
func TestRemoteForwardCancel(t *testing.T) {
	j := startJump(t)
	echo := echoServer(t)
	sshPort := fmt.Sprint(j.sshd.Port)
	p1, p2 := freePort(t), freePort(t)
	for _, p := range []int{p1, p2} {
		j.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(p), "--remote-forward")
	}
	sock := filepath.Join(t.TempDir(), "cm")
	remoteForwardCmd(t, j, "-M", "-S", sock, "-p", sshPort, "-R", fmt.Sprintf("%d:127.0.0.1:%d", p1, echo), j.target())
	listening(t, p1, true)
	ctl := func(args ...string) {
		t.Helper()
		out, err := exec.Command("ssh", append([]string{"-F", j.cfg, "-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh %v: %v %s", args, err, out)
		}
	}
	ctl("-O", "forward", "-R", fmt.Sprintf("%d:127.0.0.1:%d", p2, echo), "-p", sshPort, j.target())
	listening(t, p2, true)
	if got := talk(t, p2, "second"); got != "echo:second" {
		t.Fatalf("the second forward: %q", got)
	}
	ctl("-O", "cancel", "-R", fmt.Sprintf("%d:127.0.0.1:%d", p1, echo), "-p", sshPort, j.target())
	listening(t, p1, false)
	waitAudit(t, j.b, "forward.cancel", map[string]any{"account": "alice", "port_to": fmt.Sprint(p1), "allowed": "true"})
	if got := talk(t, p2, "still"); got != "echo:still" {
		t.Fatalf("the other forward after a cancel: %q", got)
	}
	_ = os.Remove(sock)
}

// TestRemoteForwardRevokedAndFrozen: a listener opened with a grant does not outlive it: once
// the grant is revoked, the next connection on the target's side is refused (audited) and the
// target stops listening; freezing the account ends its remote forwards at once.
func TestRemoteForwardRevokedAndFrozen(t *testing.T) {
	j := startJump(t)
	echo := echoServer(t)
	sshPort := fmt.Sprint(j.sshd.Port)
	port := freePort(t)
	grant := func(op string) {
		j.b.MustOK("--osh", "account"+op+"PersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(port), "--remote-forward")
	}
	grant("Add")
	remoteForwardCmd(t, j, "-p", sshPort, "-R", fmt.Sprintf("%d:127.0.0.1:%d", port, echo), j.target())
	listening(t, port, true)
	if got := talk(t, port, "before"); got != "echo:before" {
		t.Fatalf("granted: %q", got)
	}
	grant("Del")
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err == nil {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintln(c, "after")
		buf := make([]byte, 64)
		if n, _ := c.Read(buf); n > 0 {
			t.Fatalf("a connection after the grant was revoked got %q", buf[:n])
		}
		c.Close()
	}
	waitAudit(t, j.b, "forward.denied", map[string]any{"account": "alice", "port_to": fmt.Sprint(port), "direction": "remote"})
	listening(t, port, false)

	// Frozen: the forwards end with the account's sessions.
	grant("Add")
	cmd, _ := remoteForwardCmd(t, j, "-p", sshPort, "-R", fmt.Sprintf("%d:127.0.0.1:%d", port, echo), j.target())
	listening(t, port, true)
	j.b.MustOK("--osh", "accountFreeze", "--account", "alice", "--reason", "test")
	listening(t, port, false)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("ssh -R still connected after the account was frozen")
	}
}
