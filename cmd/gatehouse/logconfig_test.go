package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// waitLog waits until the server's log holds a line containing want, and returns that line.
func waitLog(t *testing.T, s *server, want string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range strings.Split(s.out.String(), "\n") {
			if strings.Contains(l, want) {
				return l
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log line with %q in:\n%s", want, s.out.String())
	return ""
}

// TestLogConfigAndMustEnrol: logLevel and logFormat in the configuration file set the log (no
// flag given): JSON lines, nothing under warn; a HUP applies a new level. At start and at each
// reload, the log says how many accounts a policy requiring a factor sends through enrolment,
// naming the admins (on main: neither key existed, and turning the policy on said nothing).
func TestLogConfigAndMustEnrol(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dataDir, 0o700)
	cfg := filepath.Join(dataDir, "gatehouse.toml")
	os.WriteFile(cfg, []byte("logFormat = \"json\"\nlogLevel = \"warn\"\naccountMFAPolicy = \"totp-required\"\n"), 0o600)
	key, _ := testenv.NewKey(t, "ed25519", "admin")
	s := startServer(t, bin, dataDir, key+".pub")

	l := waitLog(t, s, "must set up a second factor")
	var m map[string]any
	if err := json.Unmarshal([]byte(l), &m); err != nil {
		t.Fatalf("not a JSON line: %q", l)
	}
	if m["level"] != "WARN" || m["accounts"] != float64(1) || !strings.Contains(l, `"admins":["admin"]`) {
		t.Fatalf("start line %q: want 1 account, the admin named", l)
	}
	for _, l := range strings.Split(strings.TrimSpace(s.out.String()), "\n") {
		if err := json.Unmarshal([]byte(l), &m); err != nil || m["level"] == "INFO" || m["level"] == "DEBUG" {
			t.Fatalf("a line below warn or not JSON: %q", l)
		}
	}

	// Policy off: the admin makes two accounts; then the policy on again, level debug, HUP.
	os.WriteFile(cfg, []byte("logFormat = \"json\"\nlogLevel = \"warn\"\n"), 0o600)
	s.cmd.Process.Signal(syscall.SIGHUP)
	for _, name := range []string{"bob", "carol"} {
		_, pub := testenv.NewKey(t, "ed25519", name)
		if out, err := exec.Command("ssh", sshArgs(s.addr, key, "admin", "--osh", "accountCreate", "--account", name, "--public-key", "'"+pub+"'")...).CombinedOutput(); err != nil {
			t.Fatalf("accountCreate %s: %v %s", name, err, out)
		}
	}
	os.WriteFile(cfg, []byte("logFormat = \"json\"\nlogLevel = \"debug\"\naccountMFAPolicy = \"any-required\"\n"), 0o600)
	s.cmd.Process.Signal(syscall.SIGHUP)
	waitLog(t, s, `"msg":"log level changed","from":"WARN","to":"DEBUG"`)
	if l := waitLog(t, s, "3 accounts must set up a second factor"); !strings.Contains(l, `"admins":["admin"]`) {
		t.Fatalf("reload line %q does not name the admin", l)
	}
	waitLog(t, s, `"level":"INFO","msg":"configuration reloaded"`)
}

// TestLogFlagsWinOverConfig: --log-format given on the command line wins over logFormat.
func TestLogFlagsWinOverConfig(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dataDir, 0o700)
	os.WriteFile(filepath.Join(dataDir, "gatehouse.toml"), []byte("logFormat = \"json\"\n"), 0o600)
	key, _ := testenv.NewKey(t, "ed25519", "admin")
	s := startServerCmd(t, exec.Command(bin, "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin-key", key+".pub", "--log-format", "logfmt"))
	if l := waitLog(t, s, "store created"); !strings.HasPrefix(l, "time=") {
		t.Fatalf("--log-format logfmt did not win: %q", l)
	}
}
