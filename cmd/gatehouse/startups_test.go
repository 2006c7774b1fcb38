package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/testenv"
)

// TestClusterStartupsPerNodeKill9: perSourceMaxStartups (unauthenticated connections one source
// holds at once) is counted by each node in memory, not through the store (docs/cluster.md,
// "Per-source startups"). Two `gatehouse serve` processes on one PostgreSQL, a limit of 2: a
// source holding 2 pending handshakes on node n1 is refused a third there, and logs in on n2 at
// once. Then n1 is killed with SIGKILL while the source's handshakes are held: nothing was
// written for them, so nothing has to expire, and the source logs in at once on n2 and on n1
// restarted.
func TestClusterStartupsPerNodeKill9(t *testing.T) {
	dsn := pgtest.Fresh(t)
	bin := buildBinary(t)
	adminKey, _ := testenv.NewKey(t, "ed25519", "admin")
	var seal [32]byte
	_, _ = rand.Read(seal[:])
	// Penalties off: the refusal seen is the startups limit alone (they are shared, and tested
	// by TestClusterPenaltySpansNodes).
	conf := "perSourceMaxStartups = 2\nperSourcePenalties = false\nloginGraceTime = 120\n"
	dirs := map[string]string{}
	start := func(name string) *server {
		dir, ok := dirs[name]
		if !ok {
			dir = filepath.Join(t.TempDir(), name)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "seal.key"), []byte(hex.EncodeToString(seal[:])+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "gatehouse.toml"), []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			dirs[name] = dir
		}
		return startServerCmd(t, exec.Command(bin, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0",
			"--admin-key", adminKey+".pub", "--store", dsn, "--node", name))
	}
	n1, n2 := start("n1"), start("n2")
	const source = "127.0.0.7"
	login := func(s *server, what string) {
		t.Helper()
		out, err := exec.Command("ssh", append([]string{"-o", "BindAddress=" + source, "-o", "ConnectTimeout=10"},
			sshArgs(s.addr, adminKey, "admin", "--json-greppable", "--osh", "info")...)...).Output()
		if err != nil || !strings.Contains(string(out), `"error_code":"OK"`) {
			t.Fatalf("%s: %v\n%s", what, err, out)
		}
	}
	var held []net.Conn
	for range 2 {
		c, banner := pending(t, n1.addr, source)
		if !strings.HasPrefix(banner, "SSH-2.0-") {
			t.Fatalf("a pending handshake under the limit got %q", banner)
		}
		held = append(held, c)
	}
	if c, banner := pending(t, n1.addr, source); banner != "" {
		t.Fatalf("a third pending handshake on n1 got %q, want the connection closed", banner)
	} else {
		c.Close()
	}
	login(n2, "the source holding its limit on n1 logs in on n2")

	if err := n1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = n1.cmd.Wait()
	killed := time.Now()
	for _, c := range held {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatal("a handshake held on the killed node is still open")
		}
		c.Close()
	}
	login(n2, "after n1's SIGKILL with the source's handshakes held, on n2")
	n1 = start("n1")
	login(n1, "on n1 restarted")
	t.Logf("after SIGKILL of n1 with 2 handshakes held: logged in on n2, and on n1 restarted, %v after the kill", time.Since(killed).Round(time.Millisecond))
}

// pending opens a TCP connection from source to addr and reads the server's first line: the
// SSH banner when the node admitted it (the handshake then waits for the client, which sends
// nothing), "" when the node closed it.
func pending(t *testing.T, addr, source string) (net.Conn, string) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return c, ""
	}
	_ = c.SetReadDeadline(time.Time{})
	return c, strings.TrimSpace(line)
}
