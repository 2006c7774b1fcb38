package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// echoServer listens on loopback and echoes every line back, prefixed; it returns its port.
func echoServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					fmt.Fprintf(c, "echo:%s\n", sc.Text())
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// localForward starts `ssh -N -L LPORT:127.0.0.1:port alice@bastion` and returns LPORT once it
// accepts connections.
func localForward(t *testing.T, j *jumpEnv, port int) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lport := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes", "-i", j.aliceKey, "-o", "ExitOnForwardFailure=yes", "-N", "-p", j.b.Port,
		"-L", fmt.Sprintf("%d:127.0.0.1:%d", lport, port), "alice@"+j.b.Host)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", lport))
		if err == nil {
			c.Close()
			return lport
		}
		if time.Now().After(deadline) {
			t.Fatalf("ssh -L never listened: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// talk sends line through lport and returns the first line that comes back (or the banner).
func talk(t *testing.T, lport int, line string) string {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", lport))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(got)
}

// TestForwardGrantPerPort: ssh -L reaches a port behind the bastion only with a --forward grant
// for that host and port; each forwarded connection is audited with its bytes. Without the
// grant (or for another port) the forwarded port answers with the bastion's own SSH server,
// never the target, and the attempt is audited.
func TestForwardGrantPerPort(t *testing.T) {
	j := startJump(t)
	echo, other := echoServer(t), echoServer(t)
	// Bad grants: clear errors, nothing added.
	for _, args := range [][]string{
		{"--port-any", "--forward"}, {"--port", "*", "--forward"}, {"--forward"},
		{"--port", fmt.Sprint(echo), "--forward", "--user", "root"}, {"--port", fmt.Sprint(echo), "--forward", "--sftp"},
	} {
		r := j.b.Admin(append([]string{"--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1"}, args...)...)
		if r.Exit == 0 {
			t.Fatalf("grant %v accepted: %s", args, r.Stdout)
		}
	}
	// selfAddPersonalAccess --forward: refused even to an account allowed the command (a forward
	// uses no key on the target, so given to oneself it would make the bastion a proxy).
	j.b.MustOK("--osh", "accountGrantCommand", "--account", "alice", "--command", "selfAddPersonalAccess")
	if r := j.b.SSH(j.aliceKey, "alice", "--osh", "selfAddPersonalAccess", "--host", "127.0.0.1", "--port", fmt.Sprint(echo), "--forward"); r.Exit == 0 || !strings.Contains(r.Stdout, "cannot be given to yourself") {
		t.Fatalf("selfAddPersonalAccess --forward accepted: %s", r.Stdout)
	}
	lport := localForward(t, j, echo)
	if got := talk(t, lport, "before"); !strings.HasPrefix(got, "SSH-2.0-gatehouse") {
		t.Fatalf("a forward without grant reached %q", got)
	}
	waitAudit(t, j.b, "jump.denied", map[string]any{"account": "alice", "port_to": fmt.Sprint(echo)})

	j.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(echo), "--forward")
	if r := j.b.MustOK("--osh", "accountListAccesses", "--account", "alice"); !strings.Contains(r.Stdout, "!forward") {
		t.Fatalf("the listing does not show the grant: %s", r.Stdout)
	}
	if got := talk(t, lport, "granted"); got != "echo:granted" {
		t.Fatalf("forward with grant: %q", got)
	}
	waitAudit(t, j.b, "forward.open", map[string]any{"account": "alice", "port_to": fmt.Sprint(echo), "host_to": "127.0.0.1"})
	waitAudit(t, j.b, "forward.close", map[string]any{"account": "alice", "port_to": fmt.Sprint(echo), "bytes_in": "8", "bytes_out": "13"})

	// Another port on the same host: still the bastion's SSH server.
	lother := localForward(t, j, other)
	if got := talk(t, lother, "other"); !strings.HasPrefix(got, "SSH-2.0-gatehouse") {
		t.Fatalf("a port without grant reached %q", got)
	}
	// Revoked: back to the bastion's server.
	j.b.MustOK("--osh", "accountDelPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(echo), "--forward")
	if got := talk(t, lport, "after"); !strings.HasPrefix(got, "SSH-2.0-gatehouse") {
		t.Fatalf("a revoked forward reached %q", got)
	}
}
