package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/testenv"
)

// jumpForwardCmd starts the real ssh through the ProxyJump stanza with -N and args (its -L/-D
// and target); it returns the command and its stderr once each of the local ports accepts.
func jumpForwardCmd(t *testing.T, j *jumpEnv, ports []int, args ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ssh", append([]string{"-F", j.cfg, "-N", "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=INFO"}, args...)...)
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	for _, p := range ports {
		listening(t, p, true)
	}
	return cmd, &errb
}

// httpServer serves "hello PATH" on loopback (the target's side); it returns its port.
func httpServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintf(w, "hello %s", r.URL.Path) }),
		ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// accepted counts the logins the target's sshd accepted.
func accepted(j *jumpEnv) int { return strings.Count(j.sshd.Log(), "Accepted publickey") }

// TestJumpLocalForward: inside a ProxyJump's inner connection, ssh -L and ssh -D reach a port
// only with a --forward grant for it (besides the SSH access to the target, from the same
// means); the TARGET connects (the bastion logs in there with the egress key, once per inner
// connection), bytes intact both ways, each connection audited with its bytes. Without the
// grant, another port, and after the grant is revoked (while a forward runs), the connection is
// refused and audited; freezing the account ends the forwards and the client.
func TestJumpLocalForward(t *testing.T) {
	j := startJump(t)
	echo, other, web := echoServer(t), echoServer(t), httpServer(t)
	sshPort := fmt.Sprint(j.sshd.Port)
	lport, lother, dport := freePort(t), freePort(t), freePort(t)
	grant := func(op string, port int) {
		j.b.MustOK("--osh", "account"+op+"PersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(port), "--forward")
	}
	cmd, errb := jumpForwardCmd(t, j, []int{lport, lother, dport}, "-p", sshPort,
		"-L", fmt.Sprintf("%d:127.0.0.1:%d", lport, echo), "-L", fmt.Sprintf("%d:localhost:%d", lother, other),
		"-D", fmt.Sprint(dport), j.target())

	// No grant: refused (the channel fails: nothing answers, not even the bastion), audited.
	logins := accepted(j)
	if got := talk(t, lport, "before"); got != "" {
		t.Fatalf("a forward without a grant got %q", got)
	}
	waitAudit(t, j.b, "forward.denied", map[string]any{"account": "alice", "port_to": fmt.Sprint(echo), "direction": "local", "allowed": "false"})
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(errb.String(), "administratively prohibited"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the client was not told: %q", errb.String())
		}
	}
	if accepted(j) != logins {
		t.Fatal("the bastion logged in to the target for a refused forward")
	}

	// Granted: the bytes echo through the target; the target connected (one login for it).
	grant("Add", echo)
	if got := talk(t, lport, "granted"); got != "echo:granted" {
		t.Fatalf("a granted forward got %q (ssh: %q)", got, errb.String())
	}
	if got := talk(t, lport, "again"); got != "echo:again" {
		t.Fatalf("a second connection got %q", got)
	}
	if n := accepted(j); n != logins+1 {
		t.Fatalf("%d logins to the target for two forwarded connections, want 1", n-logins)
	}
	via := "root@127.0.0.1 -p " + sshPort
	via = j.sshd.User + via[len("root"):]
	waitAudit(t, j.b, "forward.open", map[string]any{"account": "alice", "host_to": "127.0.0.1", "port_to": fmt.Sprint(echo), "direction": "local", "via": via, "allowed": "true"})
	waitAudit(t, j.b, "forward.close", map[string]any{"account": "alice", "port_to": fmt.Sprint(echo), "direction": "local", "bytes_in": "8", "bytes_out": "13"})

	// Another port of the same host (named localhost, the target's own): refused.
	if got := talk(t, lother, "other"); got != "" {
		t.Fatalf("a port without a grant got %q", got)
	}
	waitAudit(t, j.b, "forward.denied", map[string]any{"account": "alice", "port_to": fmt.Sprint(other), "direction": "local"})

	// -D: SOCKS through the target, curl naming the host (socks5-hostname): granted and not.
	if _, err := exec.LookPath("curl"); err != nil {
		testenv.Need(t, "curl is not installed (scripts/test.sh installs it)")
	}
	curl := func(port int) (string, error) {
		out, err := exec.Command("curl", "-sS", "--max-time", "10", "--socks5-hostname", fmt.Sprintf("127.0.0.1:%d", dport),
			fmt.Sprintf("http://localhost:%d/through", port)).CombinedOutput()
		return string(out), err
	}
	if out, err := curl(web); err == nil {
		t.Fatalf("curl -D to a port without a grant: %q", out)
	}
	waitAudit(t, j.b, "forward.denied", map[string]any{"account": "alice", "port_to": fmt.Sprint(web), "direction": "local"})
	grant("Add", web)
	if out, err := curl(web); err != nil || out != "hello /through" {
		t.Fatalf("curl -D to a granted port: %v %q", err, out)
	}
	waitAudit(t, j.b, "forward.close", map[string]any{"account": "alice", "port_to": fmt.Sprint(web), "direction": "local", "connect_to": fmt.Sprintf("127.0.0.1:%d", web)})

	// A name the bastion cannot resolve: refused with the reason (the target is never asked to).
	if out, err := exec.Command("curl", "-sS", "--max-time", "10", "--socks5-hostname", fmt.Sprintf("127.0.0.1:%d", dport),
		fmt.Sprintf("http://no-such-host.invalid:%d/", web)).CombinedOutput(); err == nil {
		t.Fatalf("curl -D to an unresolvable name: %q", out)
	}
	waitAudit(t, j.b, "forward.denied", map[string]any{"account": "alice", "host_to": "no-such-host.invalid", "comment": "Unable to resolve host 'no-such-host.invalid'"})

	// Revoked while a forwarded connection is open: the next one is refused.
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", lport))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintln(c, "open")
	buf := make([]byte, len("echo:open\n"))
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "echo:open\n" {
		t.Fatalf("an open forward: %v %q", err, buf)
	}
	denied := map[string]any{"account": "alice", "port_to": fmt.Sprint(echo), "direction": "local"}
	before := countAudit(t, j.b, "forward.denied", denied)
	grant("Del", echo)
	if got := talk(t, lport, "after"); got != "" {
		t.Fatalf("a connection after the grant was revoked got %q", got)
	}
	waitAuditCount(t, j.b, "forward.denied", denied, before+1)

	// Frozen: the forwards and the client's connection end.
	j.b.MustOK("--osh", "accountFreeze", "--account", "alice", "--reason", "test")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("ssh -L still connected after the account was frozen")
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if n, _ := c.Read(buf); n > 0 {
		t.Fatalf("the open forward still carried %q after the freeze", buf[:n])
	}
}

// TestJumpLocalForwardDistinctMeans: inside a jump, a --forward grant from another means than
// the SSH access to the target (a group's forward, a personal SSH access) is refused, as -R.
func TestJumpLocalForwardDistinctMeans(t *testing.T) {
	j := startJump(t)
	echo := echoServer(t)
	lport := freePort(t)
	j.b.MustOK("--osh", "groupCreate", "--group", "fwd", "--owner", "admin", "--algo", "ed25519")
	j.b.MustOK("--osh", "groupAddMember", "--group", "fwd", "--account", "alice")
	j.b.MustOK("--osh", "groupAddServer", "--group", "fwd", "--host", "127.0.0.1", "--port", fmt.Sprint(echo), "--forward")
	jumpForwardCmd(t, j, []int{lport}, "-p", fmt.Sprint(j.sshd.Port), "-L", fmt.Sprintf("%d:127.0.0.1:%d", lport, echo), j.target())
	if got := talk(t, lport, "mixed"); got != "" {
		t.Fatalf("a forward granted by another means got %q", got)
	}
	waitAudit(t, j.b, "forward.denied", map[string]any{"account": "alice", "port_to": fmt.Sprint(echo), "direction": "local"})
}

// waitAuditCount waits until at least n audit events of typ carry want.
func waitAuditCount(t *testing.T, b *testenv.Bastion, typ string, want map[string]any, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := countAudit(t, b, typ, want)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d %s audit entries with %v, want %d", got, typ, want, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countAudit counts the audit events of typ that carry want.
func countAudit(t *testing.T, b *testenv.Bastion, typ string, want map[string]any) int {
	t.Helper()
	n := 0
	for _, e := range auditEntries(t, b, typ) {
		if auditCarries(e, want) {
			n++
		}
	}
	return n
}

// auditCarries says whether audit entry e (its fields and extra fields) carries want.
func auditCarries(e map[string]any, want map[string]any) bool {
	f, _ := e["fields"].(map[string]any)
	x, _ := f["extra"].(map[string]any)
	for k, v := range want {
		got, ok := f[k]
		if !ok {
			got = x[k]
		}
		if fmt.Sprint(got) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

// TestJumpLocalForwardTargetRefuses: the target, not the bastion, connects: a target whose sshd
// forbids forwarding (AllowTcpForwarding no) makes a granted -L fail, audited forward.failed
// with the target's refusal, while the same grant through the bastion's own connection (the
// bastion connects) reaches the port.
func TestJumpLocalForwardTargetRefuses(t *testing.T) {
	j := startJump(t)
	echo := echoServer(t)
	strict := extraTarget(t, j, []string{"AllowTcpForwarding no"})
	j.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(echo), "--forward")
	lport := freePort(t)
	jumpForwardCmd(t, j, []int{lport}, "-p", fmt.Sprint(strict.Port), "-L", fmt.Sprintf("%d:127.0.0.1:%d", lport, echo), strict.User+"@127.0.0.1")
	if got := talk(t, lport, "strict"); got != "" {
		t.Fatalf("a target that forbids forwarding forwarded: %q", got)
	}
	waitAudit(t, j.b, "forward.failed", map[string]any{"account": "alice", "port_to": fmt.Sprint(echo), "direction": "local", "ssh_port": fmt.Sprint(strict.Port)})
	if got := talk(t, localForward(t, j, echo), "bastion"); got != "echo:bastion" {
		t.Fatalf("the same grant on the bastion's own connection: %q", got)
	}
}

// TestJumpLocalForwardHostileChannels: a raw client (x/crypto/ssh, as an attacker's tool) opens
// direct-tcpip channels on a jump's inner connection that OpenSSH would never send: a host with
// a NUL, a 64 kB host, a prefix, port 0: each is refused with the reason, audited
// forward.denied (the host made printable and cut), and nothing is dialled.
func TestJumpLocalForwardHostileChannels(t *testing.T) {
	j := startJump(t)
	echo := echoServer(t)
	j.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(echo), "--forward")
	pem, err := os.ReadFile(j.aliceKey)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	outer, err := ssh.Dial("tcp", net.JoinHostPort(j.b.Host, j.b.Port), &ssh.ClientConfig{User: "alice", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}) // the bastion's key is not what is tested
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	nc, err := outer.Dial("tcp", net.JoinHostPort("127.0.0.1", fmt.Sprint(j.sshd.Port))) // the jump
	if err != nil {
		t.Fatal(err)
	}
	conn, chans, reqs, err := ssh.NewClientConn(nc, "127.0.0.1", &ssh.ClientConfig{User: j.sshd.User, HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	inner := ssh.NewClient(conn, chans, reqs)
	defer inner.Close()
	type tcpip struct {
		Host     string
		Port     uint32
		OrigIP   string
		OrigPort uint32
	}
	logins := accepted(j)
	for _, c := range []struct {
		name string
		host string
		port uint32
	}{
		{"NUL", "127.0.0.1\x00.evil", uint32(echo)},
		{"64 kB", strings.Repeat("a", 64*1024), uint32(echo)},
		{"prefix", "127.0.0.0/8", uint32(echo)},
		{"port 0", "127.0.0.1", 0},
		{"port 70000", "127.0.0.1", 70000},
	} {
		ch, _, err := inner.OpenChannel("direct-tcpip", ssh.Marshal(tcpip{Host: c.host, Port: c.port, OrigIP: "127.0.0.1", OrigPort: 1}))
		if err == nil {
			ch.Close()
			t.Fatalf("%s: the channel was accepted", c.name)
		}
	}
	waitAudit(t, j.b, "forward.denied", map[string]any{"account": "alice", "host_to": "127.0.0.1?.evil", "direction": "local"})
	waitAudit(t, j.b, "forward.denied", map[string]any{"account": "alice", "host_to": strings.Repeat("a", 256) + "…"})
	waitAudit(t, j.b, "forward.denied", map[string]any{"account": "alice", "port_to": "70000", "comment": "bad port 70000"})
	if accepted(j) != logins {
		t.Fatal("the bastion logged in to the target for a hostile channel")
	}
	// The same connection still forwards what is granted.
	ch, err := inner.Dial("tcp", net.JoinHostPort("127.0.0.1", fmt.Sprint(echo)))
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	fmt.Fprintln(ch, "raw")
	_ = ch.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, len("echo:raw\n"))
	if _, err := io.ReadFull(ch, buf); err != nil || string(buf) != "echo:raw\n" {
		t.Fatalf("granted after the refusals: %v %q", err, buf)
	}
}
