package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
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
// running the configuration of docs/cluster.md. Logins through it work; after one node is killed
// with SIGKILL, every following login still works (on the other node).
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
	// Behind a balancer without the PROXY protocol every client comes from its address: the
	// per-source limits exempt it (docs/cluster.md).
	conf := "perSourceMaxStartups = 0\nperSourcePenaltyExemptList = [\"127.0.0.1\"]\n"
	var nodes []*server
	for _, name := range []string{"n1", "n2"} {
		dir := filepath.Join(t.TempDir(), name)
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
