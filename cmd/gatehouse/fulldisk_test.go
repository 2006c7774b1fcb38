package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// TestFullDiskRefusesThenResumes puts the data directory on a small tmpfs and fills it: logins
// are refused (the audit log cannot be written) and /healthz answers 503 with the reason. Once
// the space is freed, logins work again within seconds, without a restart, and `gatehouse audit
// verify` passes, with the failure and what was cut recorded in the chain.
func TestFullDiskRefusesThenResumes(t *testing.T) {
	alerts := &alertSink{}
	b, dataDir, metrics := smallDiskBastion(t, alerts)
	health := func() (int, string) { return healthz(metrics) }
	if r := b.Admin("--osh", "info"); r.Exit != 0 {
		t.Fatalf("login before the disk is full: %d %s", r.Exit, r.Stderr)
	}

	filler := filepath.Join(dataDir, "filler")
	fill(t, filler)
	// Each refused login tries to audit; the log fails once its file's last page is full too.
	waitUntil(t, 60*time.Second, "/healthz to report the audit log failing", func() bool {
		if r := b.Admin("--osh", "info"); r.Exit == 0 {
			t.Fatalf("a session ran on a full disk:\n%s", r.Stdout)
		}
		c, _ := health()
		return c == http.StatusServiceUnavailable
	})
	if c, body := health(); c != 503 || !strings.Contains(body, "audit log failing") || !strings.Contains(body, "no space left") {
		t.Errorf("/healthz while the disk is full: %d %q", c, body)
	}
	if r := b.Admin("--osh", "info"); r.Exit == 0 {
		t.Fatalf("a session ran on a full disk")
	}
	if m := scrape(t, metrics); !strings.Contains(m, "gatehouse_audit_healthy 0") || strings.Contains(m, "gatehouse_audit_write_failures_total 0") {
		t.Errorf("metrics while the disk is full:\n%s", grepLines(m, "gatehouse_audit"))
	}

	waitUntil(t, 10*time.Second, "the audit_log alert", func() bool { return strings.Contains(alerts.all(), "FAILING") })

	os.Remove(filler) // space is back; nobody restarts anything
	start := time.Now()
	waitUntil(t, 10*time.Second, "/healthz to recover", func() bool { c, _ := health(); return c == 200 })
	if r := b.Admin("--osh", "info"); r.Exit != 0 {
		t.Fatalf("login once space is back: %d %s %s", r.Exit, r.Stdout, r.Stderr)
	}
	t.Logf("logins work again %v after the space was freed", time.Since(start).Round(time.Millisecond))
	if m := scrape(t, metrics); !strings.Contains(m, "gatehouse_audit_healthy 1") {
		t.Errorf("metrics after recovery:\n%s", grepLines(m, "gatehouse_audit"))
	}
	waitUntil(t, 10*time.Second, "the recovery alert", func() bool { return strings.Contains(alerts.all(), "recovered") })

	var out, errb bytes.Buffer
	if code := run([]string{"audit", "verify", "--data-dir", dataDir}, &out, &errb); code != 0 || !strings.Contains(out.String(), "resumed after a write failure") {
		t.Fatalf("audit verify of the running bastion after the full disk: %d\n%s%s", code, out.String(), errb.String())
	}
	t.Logf("%s", out.String())
	b.Stop()
	out.Reset()
	if code := run([]string{"audit", "verify", "--data-dir", dataDir, "--strict"}, &out, &errb); code != 0 {
		t.Fatalf("audit verify --strict once stopped: %d\n%s%s", code, out.String(), errb.String())
	}
}

// smallDiskBastion starts a bastion whose data directory is a 2 MiB tmpfs (the store's
// write-ahead log alone takes ~400 KiB), with /healthz and /metrics on the returned address.
func smallDiskBastion(t *testing.T, alerts *alertSink) (*testenv.Bastion, string, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Need(t, "mounting a tmpfs needs root (CI runs as root)")
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dataDir, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", dataDir).CombinedOutput(); err != nil {
		testenv.Need(t, "cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { // after the bastion's own cleanup (LIFO): nothing holds the mount then
		if err := exec.Command("umount", dataDir).Run(); err != nil {
			exec.Command("umount", "-l", dataDir).Run()
		}
	})
	metrics := freePort(t)
	b := testenv.Start(t, testenv.Options{DataDir: dataDir, Config: fmt.Sprintf("metricsListen = %q\n%s", metrics, alertsTo(t, alerts))})
	waitUntil(t, 10*time.Second, "the metrics listener", func() bool { c, _ := healthz(metrics); return c == 200 })
	return b, dataDir, metrics
}

// alertSink is a chat channel for tests: it keeps every message it receives.
type alertSink struct {
	mu     sync.Mutex
	bodies []string
}

func (s *alertSink) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.bodies, "\n")
}

// alertsTo starts a channel that keeps what it receives in sink and returns the configuration
// that sends the audit_log alerts there.
func alertsTo(t *testing.T, sink *alertSink) string {
	if sink == nil {
		return ""
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sink.mu.Lock()
		sink.bodies = append(sink.bodies, string(b))
		sink.mu.Unlock()
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return fmt.Sprintf("[notify.channels.ops]\nkind = \"slack\"\nurl = %q\n[notify.alerts]\nchannels = [\"ops\"]\nkinds = [\"audit_log\"]\n", srv.URL)
}

func healthz(addr string) (int, string) {
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestFullDiskRefusesChangesInOpenSessions: an interactive session opened before the disk
// filled up keeps read-only commands, but a state-changing command is refused while the audit
// log cannot be written, and runs once space is back.
func TestFullDiskRefusesChangesInOpenSessions(t *testing.T) {
	b, dataDir, metrics := smallDiskBastion(t, nil)
	b.CreateAccount("bob")
	term := b.SSHTerminal(b.AdminKey, "admin", 120, 40, "-i")
	off := term.Expect(0, "admin@gatehouse(master)> ", 10*time.Second)

	filler := filepath.Join(dataDir, "filler")
	fill(t, filler)
	waitUntil(t, 60*time.Second, "the audit log to fail", func() bool {
		term.Send("info\r") // each command is audited; one of them finds the disk full
		off = term.Expect(off, "</info>", 10*time.Second)
		c, _ := healthz(metrics)
		return c == http.StatusServiceUnavailable
	})
	term.Send("accountFreeze --account bob --reason test\r")
	off = term.Expect(off, "The audit log of this bastion cannot be written right now", 10*time.Second)
	term.Send("accountList\r") // read-only: still answers
	off = term.Expect(off, "bob", 10*time.Second)

	os.Remove(filler)
	waitUntil(t, 10*time.Second, "/healthz to recover", func() bool { c, _ := healthz(metrics); return c == 200 })
	term.Send("accountFreeze --account bob --reason test\r")
	term.Expect(off, "is now frozen", 10*time.Second)
	term.Send("exit\r")
	term.Wait(10 * time.Second)
}

// fill writes to path until the file system has no room left.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// waitUntil polls cond until it holds or the timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
