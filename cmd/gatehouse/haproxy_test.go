package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/testenv"
)

// haproxyConfig is the HAProxy configuration docs/cluster.md gives, with the frontend bound to
// listen and the servers' addresses replaced by nodes: the test runs the documented text.
func haproxyConfig(t *testing.T, listen string, nodes []string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "cluster.md"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(doc), "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimSpace(l) == "defaults" {
			start = i
			break
		}
	}
	if start < 0 {
		t.Fatal("docs/cluster.md has no HAProxy configuration (a block starting with `defaults`)")
	}
	var out []string
	n := 0
	for _, l := range lines[start:] {
		if strings.TrimSpace(l) == "" {
			break
		}
		l = strings.TrimPrefix(l, "       ")
		f := strings.Fields(l)
		switch {
		case len(f) >= 2 && f[0] == "bind":
			l = "    bind " + listen
		case len(f) >= 3 && f[0] == "server":
			if n >= len(nodes) {
				t.Fatalf("more servers in the documented config than nodes: %q", l)
			}
			f[2] = nodes[n]
			n++
			l = "    " + strings.Join(f, " ")
		}
		out = append(out, l)
	}
	if n != len(nodes) {
		t.Fatalf("the documented config has %d servers, want %d", n, len(nodes))
	}
	return strings.Join(out, "\n") + "\n"
}

// TestHAProxyTwoNodes: two `gatehouse serve` processes on one PostgreSQL, behind Debian's haproxy
// running the configuration of docs/cluster.md (send-proxy-v2, proxyProtocolFrom naming the
// balancer). Logins through it work, and each is the client's own: a login from 127.0.0.5 is
// 127.0.0.5 in the audit (with the balancer beside it) and the session list; a penalty earned by
// 127.0.0.9 through haproxy refuses 127.0.0.9 on both nodes and nobody else; a PROXY header
// forged by an address not in the list is refused. HAProxy's health checks (LOCAL) keep both
// nodes up. After one node is killed with SIGKILL, every following login still works.
func TestHAProxyTwoNodes(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/haproxy"); serr != nil { // not on a user's PATH
			testenv.Need(t, "haproxy is required (apt-get install haproxy): %v", err)
		}
		haproxy = "/usr/sbin/haproxy"
	}
	dsn := pgtest.Fresh(t)
	bin := buildBinary(t)
	adminKey, _ := testenv.NewKey(t, "ed25519", "admin")
	var seal [32]byte
	_, _ = rand.Read(seal[:])
	// haproxy reaches the nodes from 127.0.0.1 and names each client with send-proxy-v2; the
	// per-source limits are the defaults (a failed login owes 30 s: over perSourcePenaltyMin).
	conf := "proxyProtocolFrom = [\"127.0.0.1\"]\nperSourcePenaltyAuthFail = 30\n"
	var nodes []*server
	var dirs []string
	for _, name := range []string{"n1", "n2"} {
		dir := filepath.Join(t.TempDir(), name)
		dirs = append(dirs, dir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "seal.key"), []byte(hex.EncodeToString(seal[:])+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "gatehouse.toml"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, startServerCmd(t, exec.Command(bin, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0",
			"--admin-key", adminKey+".pub", "--store", dsn, "--node", name)))
	}
	front := freePort(t)
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(haproxyConfig(t, front, []string{nodes[0].addr, nodes[1].addr})), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(haproxy, "-c", "-f", cfg).CombinedOutput(); err != nil {
		t.Fatalf("haproxy -c refuses the documented configuration: %v\n%s", err, out)
	}
	hp := exec.Command(haproxy, "-db", "-f", cfg)
	hpLog := &lockedBuffer{}
	hp.Stdout, hp.Stderr = hpLog, hpLog
	if err := hp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = hp.Process.Kill(); _ = hp.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", front, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("haproxy does not listen: %s", hpLog.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	login := func(i int) string {
		m := sshJSON(t, front, adminKey, "admin", "--osh", "info")
		if m["error_code"] != "OK" {
			t.Fatalf("login %d through haproxy: %v\nhaproxy: %s", i, m, hpLog.String())
		}
		return fmt.Sprint(m["value"])
	}
	for i := range 6 {
		login(i)
	}
	// Both nodes served (leastconn spreads the logins): the session rows name their node.
	if n := nodesServing(t, dsn); n != 2 {
		t.Fatalf("%d nodes served the logins through haproxy, want 2", n)
	}
	proxyChecks(t, front, adminKey, dirs, nodes, hpLog)
	if err := nodes[0].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	nodes[0].cmd.Wait()
	start := time.Now()
	for i := range 10 {
		login(100 + i)
	}
	t.Logf("10 logins through haproxy after node n1's SIGKILL, in %v", time.Since(start).Round(time.Millisecond))
}

// nodesServing is how many nodes have session rows in the store.
func nodesServing(t *testing.T, dsn string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(DISTINCT node) FROM sessions`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// proxyChecks: through haproxy's send-proxy-v2, each client is itself on every node.
func proxyChecks(t *testing.T, front, adminKey string, dirs []string, nodes []*server, hpLog *lockedBuffer) {
	t.Helper()
	run := func(from, key string, words ...string) (string, int) {
		cmd := exec.Command("ssh", append([]string{"-o", "BindAddress=" + from}, sshArgs(front, key, "admin", words...)...)...)
		out, err := cmd.Output()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	// The client's address in the session list (every node's sessions) and the audit.
	for range 4 { // leastconn: both nodes serve 127.0.0.5
		if out, code := run("127.0.0.5", adminKey, "--osh", "info"); code != 0 {
			t.Fatalf("login from 127.0.0.5 through haproxy: exit %d %s\nhaproxy: %s", code, out, hpLog.String())
		}
	}
	out, code := run("127.0.0.5", adminKey, "--json-greppable", "--osh", "selfListSessions")
	if code != 0 || !strings.Contains(out, `"ipfrom":"127.0.0.5"`) {
		t.Fatalf("the session list through haproxy does not show 127.0.0.5: exit %d\n%s", code, out)
	}
	audited := 0
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "audit", "*"))
		for _, f := range files {
			body, _ := os.ReadFile(f)
			for _, l := range strings.Split(string(body), "\n") {
				if strings.Contains(l, `"type":"auth"`) && strings.Contains(l, `"ip_from":"127.0.0.5"`) && strings.Contains(l, `"ip_balancer":"127.0.0.1"`) {
					audited++
					break
				}
			}
		}
	}
	if audited < 2 {
		t.Errorf("the logins from 127.0.0.5 are audited with the balancer beside them on %d nodes, want 2", audited)
	}

	// A penalty: 127.0.0.9 fails once, and is then refused whichever node haproxy picks
	// (the penalty is shared through PostgreSQL); 127.0.0.5 behind the same haproxy is not.
	stranger, _ := testenv.NewKey(t, "ed25519", "stranger")
	if _, code := run("127.0.0.9", stranger); code != 255 {
		t.Fatalf("a stranger's key let in: exit %d", code)
	}
	waitRefused(t, front, "127.0.0.9")
	for i := range 4 {
		if _, code := run("127.0.0.9", adminKey, "--osh", "info"); code != 255 {
			t.Fatalf("try %d: the penalized 127.0.0.9 logged in through haproxy: exit %d", i, code)
		}
	}
	for i := range 4 {
		if out, code := run("127.0.0.5", adminKey, "--osh", "info"); code != 0 {
			t.Fatalf("try %d: 127.0.0.5 refused after 127.0.0.9's penalty: exit %d %s", i, code, out)
		}
	}

	// A forged header straight to a node, from an address not in proxyProtocolFrom.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.3")}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", nodes[1].addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	forged := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c")
	forged = append(forged, 127, 0, 0, 5, 127, 0, 0, 1, 0x9c, 0x40, 0x08, 0xae)
	c.Write(append(forged, "SSH-2.0-OpenSSH_9.2\r\n"...))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.ReadAll(c) // the node's banner, then the end
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(nodes[1].out.String(), "PROXY protocol header from an address not in proxyProtocolFrom"); {
		if time.Now().After(deadline) {
			t.Fatalf("the forged header was not refused and logged:\n%s", nodes[1].out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(hpLog.String(), "is DOWN") {
		t.Errorf("haproxy's health checks took a node down:\n%s", hpLog.String())
	}
}

// waitRefused waits until a connection from the source through front is closed before the
// SSH banner (its penalty is in force).
func waitRefused(t *testing.T, front, from string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := d.Dial("tcp", front)
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var b [4]byte
		n, _ := io.ReadFull(c, b[:])
		c.Close()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not refused through %s", from, front)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
