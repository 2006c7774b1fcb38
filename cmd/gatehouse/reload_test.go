package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// TestHUPNamesWhatNeedsARestart: kill -HUP applies what it can and names, in its log line, the
// changed options that only a restart applies, instead of a plain "configuration reloaded".
func TestHUPNamesWhatNeedsARestart(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dataDir, 0o700)
	cfg := filepath.Join(dataDir, "gatehouse.toml")
	os.WriteFile(cfg, []byte("bastionName = \"one\"\n"), 0o600)
	key, _ := testenv.NewKey(t, "ed25519", "admin")
	cmd := exec.Command(bin, "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--admin-key", key+".pub")
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var addr string
	sc := bufio.NewScanner(stdout)
	for addr == "" && sc.Scan() {
		if l := sc.Text(); strings.Contains(l, "listening on ") {
			addr = strings.Fields(strings.SplitN(l, "listening on ", 2)[1])[0]
		}
	}
	go io.Copy(io.Discard, stdout)
	if addr == "" {
		t.Fatal("gatehouse did not start")
	}
	waitLine := func(want string) string {
		t.Helper()
		timeout := time.After(20 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("gatehouse ended before logging %q", want)
				}
				if strings.Contains(l, "configuration") {
					if strings.Contains(l, want) {
						return l
					}
					t.Fatalf("reload logged %q, want %q", l, want)
				}
			case <-timeout:
				t.Fatalf("no log line with %q", want)
			}
		}
	}
	hup := func() { t.Helper(); cmd.Process.Signal(syscall.SIGHUP) }

	// Only options read at each use: reloaded, nothing to restart.
	os.WriteFile(cfg, []byte("bastionName = \"two\"\nrecordingFormat = \"ttyrec\"\n"), 0o600)
	hup()
	waitLine("msg=\"configuration reloaded\"")
	// The new format is in force for the next session.
	out, err := exec.Command("ssh", sshArgs(addr, key, "admin", "--osh", "info")...).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("two")) {
		t.Fatalf("info after reload: %v %s", err, out)
	}
	if m, _ := filepath.Glob(filepath.Join(dataDir, "recordings", "admin", "*.info.0.ttyrec")); len(m) != 1 {
		t.Fatalf("recordings after the reload to ttyrec: %v", m)
	}
	// An audit sink and [notify]: named, as needing a restart.
	os.WriteFile(cfg, []byte("bastionName = \"two\"\nsyslogAddress = \"udp://127.0.0.1:9\"\n[notify.code]\ndigits = 8\n"), 0o600)
	hup()
	l := waitLine("restart")
	if !strings.Contains(l, "syslogAddress") || !strings.Contains(l, "notify") {
		t.Fatalf("reload line %q does not name syslogAddress and notify", l)
	}
	// A bad file: refused, the running configuration stays.
	os.WriteFile(cfg, []byte("[plugin.acountCreate]\nmfa_required = \"totp\"\n"), 0o600)
	hup()
	l = waitLine("not reloaded")
	if !strings.Contains(l, "gatehouse.toml:1:") || !strings.Contains(l, "acountCreate") {
		t.Fatalf("refused reload line %q lacks file:line and the name", l)
	}
}

// TestConfigTyposRefusedAtStart: a [plugin.NAME] that names no command, and a key spelled in
// another case, stop the start with file:line.
func TestConfigTyposRefusedAtStart(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"bastionName = \"b\"\n\n[plugin.acountCreate]\nmfa_required = \"totp\"\n", ":3: [plugin.acountCreate]: no command is named"},
		{"[plugin.AccountCreate]\nmfa_required = \"totp\"\n", `:1: [plugin.AccountCreate]: no command is named "AccountCreate" (did you mean "accountCreate"?`},
		{"bastionName = \"b\"\nmaxstartups = \"1\"\n", `:2: unknown option "maxstartups": did you mean "maxStartups"?`},
	} {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "gatehouse.toml")
		os.WriteFile(cfg, []byte(tc.data), 0o600)
		var out, errb bytes.Buffer
		code := run([]string{"serve", "--data-dir", filepath.Join(dir, "data"), "--config", cfg, "--listen", "127.0.0.1:0"}, &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), cfg+tc.want) {
			t.Errorf("%q: exit %d, %q; want %q", tc.data, code, errb.String(), cfg+tc.want)
		}
	}
}
