package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"

	"gatehouse/internal/audit"
	"gatehouse/internal/mfa/totp"
	"gatehouse/internal/mfaauth"
	"gatehouse/internal/sshkey"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// kbdTerm is the real ssh client with keyboard-interactive enabled, run on a pty that is its
// controlling terminal: it shows the server's MFA prompts there (the banners need LogLevel
// INFO) and reads the answers the test
// types, exactly as a person would see them.
type kbdTerm struct {
	t    *testing.T
	cmd  *exec.Cmd
	pty  *os.File
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
	exit chan int
}

// kbdOpts say how the client authenticates and whether it asks for a remote pty (-tt).
type kbdOpts struct {
	key  string // "" : no key at all, keyboard-interactive only
	tty  bool
	env  []string
	from string // source address (-o BindAddress), "" for the default
}

func kbdArgs(b *testenv.Bastion, o kbdOpts, account string) []string {
	args := []string{"-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=INFO", "-o", "IdentityAgent=none", "-o", "ConnectTimeout=10", "-o", "BatchMode=no",
		"-o", "KbdInteractiveAuthentication=yes", "-o", "NumberOfPasswordPrompts=1", "-o", "IdentitiesOnly=yes", "-p", b.Port}
	if o.key != "" {
		args = append(args, "-o", "PreferredAuthentications=publickey,keyboard-interactive", "-i", o.key)
	} else {
		args = append(args, "-o", "PreferredAuthentications=keyboard-interactive", "-o", "PubkeyAuthentication=no")
	}
	if o.tty {
		args = append(args, "-tt")
	}
	if o.from != "" {
		args = append(args, "-o", "BindAddress="+o.from)
	}
	return append(args, account+"@"+b.Host)
}

func startKbd(t *testing.T, b *testenv.Bastion, o kbdOpts, account string, words ...string) *kbdTerm {
	t.Helper()
	args := append(kbdArgs(b, o, account), "--")
	args = append(args, words...)
	cmd := exec.Command("ssh", args...)
	cmd.Env = append(os.Environ(), o.env...)
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 120, Rows: 40})
	if err != nil {
		t.Fatalf("start ssh on a pty: %v", err)
	}
	k := &kbdTerm{t: t, cmd: cmd, pty: f, done: make(chan struct{}), exit: make(chan int, 1)}
	go func() {
		defer close(k.done)
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			k.mu.Lock()
			k.buf.Write(buf[:n])
			k.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		k.exit <- code
	}()
	t.Cleanup(k.close)
	return k
}

func (k *kbdTerm) output() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.buf.String()
}

func (k *kbdTerm) send(s string) {
	if _, err := k.pty.Write([]byte(s)); err != nil {
		k.t.Fatalf("write to terminal: %v", err)
	}
}

// expect waits until the output after from contains s and returns the offset after it.
func (k *kbdTerm) expect(from int, s string) int {
	k.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		out := k.output()
		if i := strings.Index(out[min(from, len(out)):], s); i >= 0 {
			return min(from, len(out)) + i + len(s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	k.t.Fatalf("terminal never showed %q; it showed:\n%s", s, k.output()[min(from, len(k.output())):])
	return 0
}

// wait waits for ssh to exit and returns its status and everything it showed.
func (k *kbdTerm) wait() (int, testenv.Result) {
	k.t.Helper()
	expired := time.After(20 * time.Second)
	select {
	case code := <-k.exit:
		// ssh's last words may still be in the pty when it exits: read it to its end.
		select {
		case <-k.done:
		case <-expired:
			k.t.Fatalf("ssh exited but its pty was not read to its end; output:\n%s", k.output())
		}
		return code, testenv.Result{Stdout: k.output(), Exit: code}
	case <-expired:
		k.t.Fatalf("ssh did not exit; output:\n%s", k.output())
	}
	return -1, testenv.Result{}
}

func (k *kbdTerm) close() {
	if k.cmd.Process != nil {
		_ = k.cmd.Process.Kill()
	}
	k.pty.Close()
}

// oathtool computes a code with the real oathtool (not our code), e.g. oathtool(t, secret, "now + 30 seconds").
func oathtool(t testing.TB, secret, when string) string {
	t.Helper()
	args := []string{"--totp", "-b", secret}
	if when != "" {
		args = append(args, "-N", when)
	}
	out, err := exec.Command("oathtool", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("oathtool: %v: %s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// setPassword gives account an MFA password without the setup dialogue.
func setPassword(t testing.TB, b *testenv.Bastion, account, pw string) {
	t.Helper()
	if err := b.App.MFA.SetPassword(context.Background(), account, pw, false); err != nil {
		t.Fatal(err)
	}
}

// enrolTOTP gives account a fresh TOTP key without the setup dialogue and returns its secret.
func enrolTOTP(t testing.TB, b *testenv.Bastion, account string, scratch ...string) string {
	t.Helper()
	secret, err := totp.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	key := totp.Key{Secret: secret, Kind: totp.KindTOTP, Digits: 6, Period: 30}
	if err := b.App.MFA.SaveTOTP(context.Background(), account, mfaauth.TOTPEnrolment{Key: &key, ScratchCodes: scratch, Source: "test"}); err != nil {
		t.Fatal(err)
	}
	return totp.EncodeSecret(secret)
}

// createAccounts makes accounts that all log in with one key, straight through the store
// (fast: no ssh-keygen per account).
func createAccounts(t testing.TB, b *testenv.Bastion, pubLine string, names ...string) {
	t.Helper()
	k, err := sshkey.Parse(pubLine)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		a := store.Account{Name: n, CreatedAt: time.Now().UTC(), CreatedBy: "test", AlwaysActive: true, MaxInactiveDays: -1}
		ik := store.IngressKey{Line: k.Line, Type: k.Type, Fingerprint: k.Fingerprint, CreatedAt: time.Now().UTC()}
		if err := b.App.Store.CreateAccount(context.Background(), a, []store.IngressKey{ik}); err != nil {
			t.Fatal(err)
		}
	}
}

// askpass writes an SSH_ASKPASS program that answers "Verification code" with oathtool's code
// for $GH_TOTP_SECRET and "Password" with $GH_PASSWORD.
func askpass(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "askpass")
	script := "#!/bin/sh\ncase \"$1\" in\n*code*) exec oathtool --totp -b \"$GH_TOTP_SECRET\" ;;\n*assword*) printf '%s\\n' \"$GH_PASSWORD\" ;;\nesac\n"
	if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

// jsonValue digs into a JSON result: jsonValue(r, "value", "mfa_totp_required", "error_code").
func jsonValue(r testenv.Result, path ...string) any {
	var cur any = r.JSON()
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// auditLog records the MFA audit events of a bastion, as "type field=value …" lines.
type auditLog struct {
	mu     sync.Mutex
	events []string
}

func recordAudit(b *testenv.Bastion) *auditLog {
	l := &auditLog{}
	next := b.App.MFA.AppendAudit
	b.App.MFA.AppendAudit = func(ctx context.Context, ev audit.Event) error {
		typ, fields := ev.Type, ev.Fields.Map()
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		line := typ
		for _, k := range keys {
			line += fmt.Sprintf(" %s=%v", k, fields[k])
		}
		l.mu.Lock()
		l.events = append(l.events, line)
		l.mu.Unlock()
		return next(ctx, ev) // and into the audit log, as without the recorder
	}
	return l
}

func (l *auditLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

// has reports whether an event of type typ mentions s.
func (l *auditLog) has(typ, s string) bool {
	for _, e := range l.all() {
		if strings.HasPrefix(e, typ+" ") && strings.Contains(e, s) {
			return true
		}
	}
	return false
}

func firstItem(items []any) (map[string]any, bool) {
	if len(items) == 0 {
		return nil, false
	}
	m, ok := items[0].(map[string]any)
	return m, ok
}

func resultCode(item map[string]any) string {
	r, _ := item["result"].(map[string]any)
	s, _ := r["error_code"].(string)
	return s
}

func resultMessage(item map[string]any) string {
	r, _ := item["result"].(map[string]any)
	s, _ := r["error_message"].(string)
	return s
}

// countingListener stands for a target server: it counts the TCP connections made to it (then
// closes them), so a test can tell whether an egress was even attempted.
func countingListener(t *testing.T) (port string, count func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return port, func() int { return int(n.Load()) }
}
