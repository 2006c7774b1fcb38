package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// TestOutOfDescriptorsIsNotFatal runs `gatehouse serve` with a limit of 100 open files and
// opens connections past it. The accept error ("too many open files") used to end the
// process; now it backs off, logs, and serves again once descriptors are free.
func TestOutOfDescriptorsIsNotFatal(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// Only the descriptor limit is under test: no per-source or startup limit gets in the way.
	cfg := "maxStartups = \"1000:30:1000\"\nperSourceMaxStartups = 0\nperSourcePenalties = false\nloginGraceTime = 120\n"
	if err := os.WriteFile(filepath.Join(dataDir, "gatehouse.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	adminKey, _ := testenv.NewKey(t, "ed25519", "admin")
	s := startServerCmd(t, exec.Command("sh", "-c", `ulimit -n 100 && exec "$@"`, "sh",
		bin, "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin-key", adminKey+".pub"))
	waitFor(t, "the open files limit at start", func() bool {
		return strings.Contains(s.said.String(), "Open files limit 100: about 12 relayed sessions at 3 descriptors each.")
	})
	if m := sshJSON(t, s.addr, adminKey, "admin", "--osh", "info"); m["error_code"] != "OK" {
		t.Fatalf("info before: %v", m)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < 150; i++ {
		c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	waitFor(t, "an accept error in the log", func() bool {
		return strings.Contains(s.out.String(), "accept failed; retrying") && strings.Contains(s.out.String(), "too many open files")
	})
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	if m := sshJSON(t, s.addr, adminKey, "admin", "--osh", "info"); m["error_code"] != "OK" {
		t.Fatalf("info after the descriptors were freed: %v\nlog: %s", m, s.out.String())
	}
	if s.cmd.ProcessState != nil {
		t.Fatalf("gatehouse exited: %v", s.cmd.ProcessState)
	}
}

// waitFor polls cond until it holds, for at most 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
