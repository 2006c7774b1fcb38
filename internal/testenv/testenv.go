// Package testenv starts a real gatehouse in-process on a free loopback port and drives it with
// the real OpenSSH client, for end-to-end tests. Keys are made by the real ssh-keygen.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"gatehouse/internal/app"
	"gatehouse/internal/clock"
	"gatehouse/internal/record"
)

// Bastion is a running gatehouse.
type Bastion struct {
	T        testing.TB
	App      *app.App
	Addr     string
	Host     string
	Port     string
	DataDir  string
	AdminKey string // private key file of the first admin, "admin"
	// Clock is the bastion's clock (app.Options.Clock): the real time, moved forward by Advance.
	Clock  *Clock
	cancel context.CancelFunc
	done   chan error
}

// Clock is the real time plus an offset that tests move forward instead of sleeping: what
// expires (MFA proofs, chat codes, TTLs) and the session path's timers (a TTL ending a session,
// idle lock and kill, the interactive timeout) see the time pass, while the network's own
// timeouts keep the real clock.
type Clock = clock.Fake

// Options tune Start.
type Options struct {
	Config  string // TOML written to DATA/gatehouse.toml
	DataDir string // reuse a data directory (restart tests)
	Admin   string // first admin's private key file (reuse across restarts)
	// WrapListener, when set, wraps the SSH listener (to inject accept errors).
	WrapListener func(net.Listener) net.Listener
	// Store is "" (SQLite in DataDir) or a postgres:// URL shared by the nodes of a cluster
	// (StartNodes); Node names the node.
	Store, Node string
	// CompactWorker does the compactions' file work (app.Options; nil: in process).
	CompactWorker record.CompactWorker
}

// Start starts gatehouse and creates the first admin with a key made by ssh-keygen.
func Start(t testing.TB, o Options) *Bastion {
	t.Helper()
	if o.DataDir == "" {
		o.DataDir = filepath.Join(t.TempDir(), "data")
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if o.Config != "" {
		if err := os.WriteFile(filepath.Join(o.DataDir, "gatehouse.toml"), []byte(o.Config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if o.Admin == "" {
		o.Admin, _ = NewKey(t, "ed25519", "admin")
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("GATEHOUSE_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	clock := new(Clock)
	a, err := app.Open(ctx, app.Options{DataDir: o.DataDir, Listen: "127.0.0.1:0", Log: log, Store: o.Store, Node: o.Node, Clock: clock,
		CompactWorker: o.CompactWorker})
	if err != nil {
		cancel()
		t.Fatalf("open gatehouse: %v", err)
	}
	if _, err := a.CreateFirstAdmin(ctx, "admin", o.Admin+".pub"); err != nil {
		cancel()
		t.Fatalf("first admin: %v", err)
	}
	return launch(t, ctx, cancel, a, o, clock)
}

// launch listens and serves an opened App until the test ends.
func launch(t testing.TB, ctx context.Context, cancel context.CancelFunc, a *app.App, o Options, clock *Clock) *Bastion {
	t.Helper()
	ln, err := a.Listen()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if o.WrapListener != nil {
		ln = o.WrapListener(ln)
	}
	b := &Bastion{T: t, App: a, Addr: ln.Addr().String(), DataDir: o.DataDir, AdminKey: o.Admin, Clock: clock, cancel: cancel, done: make(chan error, 1)}
	b.Host, b.Port, _ = net.SplitHostPort(b.Addr)
	go func() { b.done <- a.Serve(ctx, ln) }()
	t.Cleanup(b.Stop)
	return b
}

// Stop shuts the bastion down and waits for it (idempotent).
func (b *Bastion) Stop() {
	if b.cancel == nil {
		return
	}
	b.cancel()
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		b.T.Errorf("gatehouse did not stop within 10s")
	}
	b.App.Close()
	b.cancel = nil
}

// NewKey makes a key pair with the real ssh-keygen; it returns the private key path and the
// public key line.
func NewKey(t testing.TB, kind, name string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	args := []string{"-q", "-t", kind, "-N", "", "-C", name + "@test", "-f", path}
	if kind == "rsa" {
		args = append(args, "-b", "2048")
	}
	if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return path, strings.TrimSpace(string(pub))
}

// Result is what one ssh run gave.
type Result struct {
	Stdout, Stderr string
	Exit           int
}

// JSON returns the payload of the last JSON_OUTPUT= line (from --json-greppable).
func (r Result) JSON() map[string]any {
	var last string
	for _, l := range strings.Split(r.Stdout, "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.HasPrefix(l, "JSON_OUTPUT=") {
			last = strings.TrimPrefix(l, "JSON_OUTPUT=")
		}
	}
	if last == "" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(last), &m); err != nil {
		return nil
	}
	return m
}

// Code is the JSON error_code, or "".
func (r Result) Code() string {
	if m := r.JSON(); m != nil {
		s, _ := m["error_code"].(string)
		return s
	}
	return ""
}

// SSHArgs are the client options every test run uses: no config, no agent, no known_hosts.
func (b *Bastion) SSHArgs(key, account string) []string {
	args := []string{"-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "IdentityAgent=none",
		"-o", "ConnectTimeout=10", "-p", b.Port}
	if key != "" {
		args = append(args, "-o", "IdentitiesOnly=yes", "-i", key)
	}
	return append(args, account+"@"+b.Host)
}

// SSH runs the real ssh client as account with key and the words after `--`.
func (b *Bastion) SSH(key, account string, words ...string) Result {
	return b.SSHIn(nil, key, account, words...)
}

// SSHIn is SSH with standard input.
func (b *Bastion) SSHIn(stdin io.Reader, key, account string, words ...string) Result {
	b.T.Helper()
	args := append(b.SSHArgs(key, account), "--")
	args = append(args, words...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = stdin
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		b.T.Fatalf("ssh: %v", err)
	}
	return Result{Stdout: out.String(), Stderr: errb.String(), Exit: code}
}

// Admin runs a command as the first admin.
func (b *Bastion) Admin(words ...string) Result {
	return b.SSH(b.AdminKey, "admin", words...)
}

// MustOK runs a command as the admin with --json-greppable and fails the test unless it succeeds.
func (b *Bastion) MustOK(words ...string) Result {
	b.T.Helper()
	r := b.Admin(append([]string{"--json-greppable"}, words...)...)
	if r.Exit != 0 || !strings.HasPrefix(r.Code(), "OK") {
		b.T.Fatalf("%v: exit %d code %q\nstdout: %s\nstderr: %s", words, r.Exit, r.Code(), r.Stdout, r.Stderr)
	}
	return r
}

// CreateAccount makes an account with a new key and returns its private key path.
func (b *Bastion) CreateAccount(name string, extra ...string) string {
	b.T.Helper()
	key, pub := NewKey(b.T, "ed25519", name)
	words := append([]string{"--osh", "accountCreate", "--account", name, "--public-key", fmt.Sprintf("%q", pub)}, extra...)
	b.MustOK(words...)
	return key
}

// Terminal is the real ssh client run on a pseudo-terminal, for interactive tests.
type Terminal struct {
	t    testing.TB
	cmd  *exec.Cmd
	pty  *os.File
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

// SSHTerminal starts `ssh -tt` as account with the words after `--`, on a pty of cols×rows.
func (b *Bastion) SSHTerminal(key, account string, cols, rows int, words ...string) *Terminal {
	b.T.Helper()
	args := append([]string{"-tt"}, b.SSHArgs(key, account)...)
	args = append(args, "--")
	args = append(args, words...)
	cmd := exec.Command("ssh", args...)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)})
	if err != nil {
		b.T.Fatalf("start ssh on a pty: %v", err)
	}
	term := &Terminal{t: b.T, cmd: cmd, pty: f, done: make(chan struct{})}
	go func() {
		defer close(term.done)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			term.mu.Lock()
			term.buf.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	b.T.Cleanup(func() { term.Close() })
	return term
}

// Send types s.
func (t *Terminal) Send(s string) {
	if _, err := t.pty.Write([]byte(s)); err != nil {
		t.t.Fatalf("write to terminal: %v", err)
	}
}

// Resize changes the terminal size (the client sends a window-change).
func (t *Terminal) Resize(cols, rows int) {
	if err := pty.Setsize(t.pty, &pty.Winsize{Cols: uint16(cols), Rows: uint16(rows)}); err != nil {
		t.t.Fatal(err)
	}
	_ = t.cmd.Process.Signal(syscall.SIGWINCH)
}

// Output is everything the terminal showed so far.
func (t *Terminal) Output() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

// Expect waits until the output (after offset from) contains s; it returns the new offset.
func (t *Terminal) Expect(from int, s string, timeout time.Duration) int {
	t.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		out := t.Output()
		if from > len(out) {
			from = len(out)
		}
		if i := strings.Index(out[from:], s); i >= 0 {
			return from + i + len(s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.t.Fatalf("terminal never showed %q; it showed:\n%s", s, t.Output()[from:])
	return 0
}

// Wait waits for ssh to exit and returns its exit status. It returns once everything ssh printed
// has been read from the pty too (the reader saw its end): ssh's last words (the reason its
// session was closed) are written just before it exits and may still be in the pty's buffer
// when it has.
func (t *Terminal) Wait(timeout time.Duration) int {
	t.t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- t.cmd.Wait() }()
	expired := time.After(timeout)
	var err error
	select {
	case err = <-errc:
	case <-expired:
		t.t.Fatalf("ssh did not exit within %v; output:\n%s", timeout, t.Output())
	}
	select {
	case <-t.done:
	case <-expired:
		t.t.Fatalf("ssh exited but its pty was not read to its end within %v; output:\n%s", timeout, t.Output())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return 0
}

// Close ends the client.
func (t *Terminal) Close() {
	if t.cmd.ProcessState == nil && t.cmd.Process != nil {
		_ = t.cmd.Process.Kill()
	}
	t.pty.Close()
}

// AsciinemaCat plays a recording with the real `asciinema cat` and returns what it printed.
// asciinema opens /dev/tty, so it gets a controlling terminal while its stdout stays a pipe.
func AsciinemaCat(t testing.TB, path string) string {
	t.Helper()
	if !strings.HasSuffix(path, ".cast") {
		// A gatehouse or ttyrec recording plays once exported, as `gatehouse replay --export` does.
		cast := filepath.Join(t.TempDir(), "export.cast")
		if err := os.WriteFile(cast, []byte(RecordingCast(t, path)), 0o600); err != nil {
			t.Fatal(err)
		}
		path = cast
	}
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "asciinema", "cat", path)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "PYTHONIOENCODING=utf-8")
	var out, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &out, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		t.Fatalf("asciinema cat %s: %v\n%s", path, err, stderr.String())
	}
	return out.String()
}

// RecordingCast returns the recording at path (any format) as asciicast v2 text, as
// `gatehouse replay --export asciicast` writes it, for tests that look into what was recorded.
func RecordingCast(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	if err := record.Export(&out, f, record.Asciicast); err != nil {
		t.Fatalf("export %s: %v", path, err)
	}
	return out.String()
}
