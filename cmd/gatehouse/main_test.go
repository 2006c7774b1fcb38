package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/sshtest"
	"gatehouse/internal/testenv"
)

// buildBinary builds gatehouse once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gatehouse")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// server is a gatehouse process started by a test.
type server struct {
	cmd  *exec.Cmd
	addr string
	out  *lockedBuffer // its standard error (the log)
	said *lockedBuffer // its standard output after the "listening on" line
}

// lockedBuffer is a bytes.Buffer written by a process and read by the test meanwhile.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startServer(t *testing.T, bin, dataDir, adminPub string) *server {
	t.Helper()
	return startServerCmd(t, exec.Command(bin, "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin-key", adminPub))
}

// startServerCmd starts cmd, a `gatehouse serve`, and waits until it listens.
func startServerCmd(t *testing.T, cmd *exec.Cmd) *server {
	t.Helper()
	stdout, _ := cmd.StdoutPipe()
	errb := &lockedBuffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, out: errb}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		if l := sc.Text(); strings.Contains(l, "listening on ") {
			s.addr = strings.Fields(strings.SplitN(l, "listening on ", 2)[1])[0]
			s.said = &lockedBuffer{}
			go func() { // the scanner may hold the next lines already
				for sc.Scan() {
					fmt.Fprintln(s.said, sc.Text())
				}
				_, _ = io.Copy(s.said, stdout)
			}()
			return s
		}
	}
	t.Fatalf("gatehouse did not start: %s", errb.String())
	return nil
}

func sshArgs(addr, key, account string, words ...string) []string {
	host, port, _ := strings.Cut(addr, ":")
	args := []string{"-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-i", key, "-p", port, account + "@" + host, "--"}
	return append(args, words...)
}

func sshJSON(t *testing.T, addr, key, account string, words ...string) map[string]any {
	t.Helper()
	out, _ := exec.Command("ssh", sshArgs(addr, key, account, append([]string{"--json-greppable"}, words...)...)...).Output()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "JSON_OUTPUT=") {
			var m map[string]any
			json.Unmarshal([]byte(strings.TrimPrefix(l, "JSON_OUTPUT=")), &m)
			return m
		}
	}
	t.Fatalf("no JSON from %v: %s", words, out)
	return nil
}

// TestCrashDuringSession kills gatehouse with SIGKILL while a session runs, starts it again and
// checks that the recording up to the crash is readable, the audit chain verifies and the
// interrupted session is marked as such.
func TestCrashDuringSession(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	adminKey, _ := testenv.NewKey(t, "ed25519", "admin")
	aliceKey, alicePub := testenv.NewKey(t, "ed25519", "alice")
	sshd := sshtest.StartSSHD(t)
	s := startServer(t, bin, dataDir, adminKey+".pub")

	if m := sshJSON(t, s.addr, adminKey, "admin", "--osh", "accountCreate", "--account", "alice", "--public-key", fmt.Sprintf("%q", alicePub)); m["error_code"] != "OK" {
		t.Fatalf("accountCreate: %v", m)
	}
	m := sshJSON(t, s.addr, adminKey, "admin", "--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1",
		"--user", sshd.User, "--port", fmt.Sprint(sshd.Port), "--force") // alice's key is installed just below
	if !strings.HasPrefix(fmt.Sprint(m["error_code"]), "OK") {
		t.Fatalf("personal access: %v", m)
	}
	// one egress key, under its fingerprint as The Bastion's value
	for _, k := range sshJSON(t, s.addr, aliceKey, "alice", "--osh", "selfListEgressKeys")["value"].(map[string]any) {
		sshd.Authorize(t, k.(map[string]any)["line"].(string))
	}

	// A session that prints a marker and keeps running.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sess := exec.CommandContext(ctx, "ssh", sshArgs(s.addr, aliceKey, "alice", sshd.User+"@127.0.0.1", "-p", fmt.Sprint(sshd.Port),
		"echo MARKER-BEFORE-CRASH; sleep 30")...)
	stdout, _ := sess.StdoutPipe()
	if err := sess.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if !strings.Contains(line, "MARKER-BEFORE-CRASH") {
		t.Fatalf("session output: %q", line)
	}
	time.Sleep(1500 * time.Millisecond) // recordings are flushed at least every second
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
	sess.Wait()

	// Restart: the interrupted session is marked, and everything verifies.
	s2 := startServer(t, bin, dataDir, adminKey+".pub")
	list := sshJSON(t, s2.addr, adminKey, "admin", "--osh", "accountListSessions", "--account", "alice", "--type", "ssh")["value"].([]any)
	var interrupted map[string]any
	for _, it := range list {
		if it.(map[string]any)["status"] == "interrupted" {
			interrupted = it.(map[string]any)
		}
	}
	if interrupted == nil {
		t.Fatalf("no interrupted session listed: %v", list)
	}
	s2.cmd.Process.Signal(syscall.SIGTERM)
	s2.cmd.Wait()

	matches, _ := filepath.Glob(filepath.Join(dataDir, "recordings", "alice", "*"+interrupted["id"].(string)+"*"))
	if len(matches) != 1 {
		t.Fatalf("recording of the interrupted session: %v", matches)
	}
	if out := testenv.AsciinemaCat(t, matches[0]); !strings.Contains(out, "MARKER-BEFORE-CRASH") {
		t.Fatalf("recording lost what was shown before the crash:\n%s", out)
	}
	var stdoutB, stderrB bytes.Buffer
	if code := run([]string{"audit", "verify", "--data-dir", dataDir}, &stdoutB, &stderrB); code != 0 {
		t.Fatalf("audit verify after a crash: %d\n%s\n%s", code, stdoutB.String(), stderrB.String())
	}
	files, _ := audit.Files(filepath.Join(dataDir, "audit"))
	var all string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all += string(b)
	}
	if !strings.Contains(all, `"type":"session.interrupted"`) || !strings.Contains(all, interrupted["id"].(string)) {
		t.Fatal("the audit log does not mark the interrupted session")
	}
}

// TestAuditVerifyDetectsTampering runs the real subcommand on an intact log, then on copies with
// one line edited, deleted or swapped.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	b := testenv.Start(t, testenv.Options{DataDir: dataDir})
	for i := 0; i < 3; i++ {
		b.Admin("--osh", "info")
	}
	b.Stop()
	var out, errb bytes.Buffer
	if code := run([]string{"audit", "verify", "--data-dir", dataDir}, &out, &errb); code != 0 {
		t.Fatalf("intact log refused: %s %s", out.String(), errb.String())
	}
	files, _ := audit.Files(filepath.Join(dataDir, "audit"))
	orig, _ := os.ReadFile(files[0])
	lines := strings.SplitAfter(string(orig), "\n")
	if len(lines) < 6 {
		t.Fatalf("log too short: %d lines", len(lines))
	}
	for _, tc := range []struct {
		name   string
		mutate func([]string) []string
		line   string
	}{
		{"edit", func(l []string) []string { l[3] = strings.Replace(l[3], `"admin"`, `"mallory"`, 1); return l }, "line 4"},
		{"delete", func(l []string) []string { return append(l[:2], l[3:]...) }, "line 3"},
		{"swap", func(l []string) []string { l[2], l[3] = l[3], l[2]; return l }, "line 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mutated := tc.mutate(append([]string(nil), lines...))
			if err := os.WriteFile(files[0], []byte(strings.Join(mutated, "")), 0o600); err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(files[0], orig, 0o600)
			var out, errb bytes.Buffer
			if code := run([]string{"audit", "verify", "--data-dir", dataDir}, &out, &errb); code == 0 {
				t.Fatalf("tampered log accepted: %s", out.String())
			}
			if !strings.Contains(out.String(), tc.line) {
				t.Fatalf("verify does not name %s:\n%s", tc.line, out.String())
			}
		})
	}
}

func TestReplayText(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	b.Admin("--osh", "info")
	b.Stop()
	files, _ := filepath.Glob(filepath.Join(b.DataDir, "recordings", "admin", "*.ghrec"))
	if len(files) == 0 {
		t.Fatal("no recording")
	}
	var out, errb bytes.Buffer
	if code := run([]string{"replay", "--text", files[0]}, &out, &errb); code != 0 || !strings.Contains(out.String(), "You are admin") {
		t.Fatalf("replay --text: %d %q %s", code, out.String(), errb.String())
	}
	out.Reset()
	if code := run([]string{"replay", "--speed", "50", files[0]}, &out, &errb); code != 0 || !strings.Contains(out.String(), "You are admin") {
		t.Fatalf("replay: %d %q", code, out.String())
	}
}

// TestInitThenServe prepares a data directory with `init`, then serves it: the admin given to
// init logs in. A second init on the same directory is refused and changes nothing.
func TestInitThenServe(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	key, _ := testenv.NewKey(t, "ed25519", "alice")
	var out, errb bytes.Buffer
	if code := run([]string{"init", "--data-dir", dataDir, "--admin", "alice", "--admin-key", key + ".pub"}, &out, &errb); code != 0 {
		t.Fatalf("init: %d %s", code, errb.String())
	}
	if code := run([]string{"init", "--data-dir", dataDir, "--admin", "mallory", "--admin-key", key + ".pub"}, &out, &errb); code == 0 {
		t.Fatal("a second init was accepted")
	}
	s := startServer(t, bin, dataDir, key+".pub")
	m := sshJSON(t, s.addr, key, "alice", "--osh", "info")
	if v := m["value"].(map[string]any); v["account"] != "alice" || v["is_admin"] != float64(1) {
		t.Fatalf("info as the init admin: %v", m)
	}
}

// TestBadConfigRefusedAtStart: a typo in the configuration stops the start with file:line.
func TestBadConfigRefusedAtStart(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatehouse.toml")
	os.WriteFile(cfg, []byte("bastionName = \"b\"\n\naccountMFAPolicy = \"sometimes\"\n"), 0o600)
	var out, errb bytes.Buffer
	code := run([]string{"serve", "--data-dir", filepath.Join(dir, "data"), "--config", cfg, "--listen", "127.0.0.1:0"}, &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), cfg+":3: accountMFAPolicy") {
		t.Fatalf("bad config: exit %d, %q", code, errb.String())
	}
}
