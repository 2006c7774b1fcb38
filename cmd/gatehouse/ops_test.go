package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/store/sqlite"
	"gatehouse/internal/testenv"
)

// TestHelpListsEverything: `gatehouse --help`, `gatehouse help CMD`, `gatehouse CMD --help` and
// `CMD -h` exit 0 and name every subcommand and every option (on main, `serve --help` exited 1
// and named neither --log-level nor `audit verify`'s options in the overall help).
func TestHelpListsEverything(t *testing.T) {
	bin := buildBinary(t)
	runBin := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		if errb.Len() > 0 && code == 0 {
			t.Errorf("%v wrote to stderr: %s", args, errb.String())
		}
		return out.String(), code
	}
	flagsOf := map[string][]string{
		"serve":         {"--data-dir", "--config", "--admin", "--admin-key", "--listen", "--log-level", "--log-format", "--store", "--node"},
		"init":          {"--data-dir", "--config", "--admin", "--admin-key", "--log-level", "--log-format", "--store", "--node"},
		"migrate-store": {"--data-dir", "--config", "--admin", "--admin-key", "--log-level", "--log-format", "--store", "--node", "--from", "--to"},
		"pam-token":     {"--server", "--addresses"},
		"sync":          {"--data-dir", "--config", "--dry-run", "--force"},
		"audit verify":  {"--data-dir", "--strict", "--syslog", "--key", "--bucket", "--config", "--node"},
		"replay":        {"--speed", "--max-idle", "--text", "--format", "--export", "--o", "--data-dir", "--config"},
		"man":           nil, "version": nil, "help": nil,
	}
	for _, top := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, code := runBin(top...)
		if code != 0 {
			t.Errorf("%v: exit %d", top, code)
		}
		for name, fl := range flagsOf {
			if !strings.Contains(out, "gatehouse "+name) {
				t.Errorf("%v does not list %q", top, name)
			}
			for _, f := range fl {
				if !strings.Contains(out, f) {
					t.Errorf("%v does not list %s of %s", top, f, name)
				}
			}
		}
	}
	for name, fl := range flagsOf {
		words := strings.Fields(name)
		for _, args := range [][]string{append(words[:len(words):len(words)], "--help"), append(words[:len(words):len(words)], "-h"), append([]string{"help"}, words...)} {
			out, code := runBin(args...)
			if code != 0 || !strings.Contains(out, "Usage: gatehouse "+name) {
				t.Errorf("%v: exit %d, %q", args, code, out)
			}
			for _, f := range fl {
				if !strings.Contains(out, f) {
					t.Errorf("%v does not list %s", args, f)
				}
			}
		}
	}
	// The table matches the flag sets the commands parse: every flag defined is in flagsOf.
	for _, c := range commands {
		if c.flags == nil {
			continue
		}
		c.flags().VisitAll(func(f *flag.Flag) {
			found := false
			for _, want := range flagsOf[c.name] {
				found = found || want == "--"+f.Name
			}
			if !found {
				t.Errorf("%s has --%s, which this test does not know: add it above", c.name, f.Name)
			}
		})
	}
	if out, code := runBin("audit", "--help"); code != 0 || !strings.Contains(out, "Usage: gatehouse audit verify") {
		t.Errorf("audit --help: exit %d %q", code, out)
	}
	if _, code := runBin("no-such-command"); code != 2 {
		t.Errorf("an unknown command: exit %d, want 2", code)
	}
}

// TestManPageUpToDate: docs/gatehouse.1 is what `gatehouse man` prints (regenerate with
// GATEHOUSE_UPDATE_MAN=1 go test ./cmd/gatehouse -run TestManPageUpToDate), and groff reads
// it without a warning.
func TestManPageUpToDate(t *testing.T) {
	t.Setenv("GATEHOUSE_DATA_DIR", "") // the defaults shown must not depend on the environment
	t.Setenv("GATEHOUSE_STORE", "")
	var b bytes.Buffer
	if code := run([]string{"man"}, &b, os.Stderr); code != 0 {
		t.Fatalf("gatehouse man: exit %d", code)
	}
	path := filepath.Join("..", "..", "docs", "gatehouse.1")
	if os.Getenv("GATEHOUSE_UPDATE_MAN") != "" {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	have, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(have, b.Bytes()) {
		t.Fatalf("docs/gatehouse.1 is not what `gatehouse man` prints (err %v): regenerate it with GATEHOUSE_UPDATE_MAN=1 go test ./cmd/gatehouse -run TestManPageUpToDate", err)
	}
	for _, want := range []string{"serve", "audit verify", "\\-\\-log\\-level", "\\-\\-max\\-idle", "\\-\\-syslog"} {
		if !bytes.Contains(have, []byte(want)) {
			t.Errorf("man page lacks %q", want)
		}
	}
	if groff, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = bytes.NewReader(have)
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("groff: %v %s", err, out)
		}
	}
}

// TestFirstStartPrintsHostKeys: the first start prints the host key fingerprints as
// ssh-keygen -lf shows them and a known_hosts line with which the real ssh client, strict and
// without a terminal, logs in at once (on main such a first login failed on the unknown key).
func TestFirstStartPrintsHostKeys(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	s := startServerCmd(t, exec.Command(bin, "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0"))
	var said string
	waitUntil(t, 10*time.Second, "the login command", func() bool {
		said = s.said.String()
		return strings.Contains(said, "-- --osh info")
	})
	fp, err := exec.Command("ssh-keygen", "-lf", filepath.Join(dataDir, "ssh_host_ed25519_key.pub")).Output()
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(string(fp)); len(f) < 2 || !strings.Contains(said, f[1]+" ssh-ed25519") {
		t.Fatalf("the fingerprint %q is not printed:\n%s", fp, said)
	}
	_, port, _ := strings.Cut(s.addr, ":")
	var known string
	for _, l := range strings.Split(said, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "[127.0.0.1]:"+port+" ") {
			known += l + "\n"
		}
	}
	if known == "" {
		t.Fatalf("no known_hosts line:\n%s", said)
	}
	kh := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(kh, []byte(known), 0o600)
	args := []string{"-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + kh,
		"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-i", filepath.Join(dataDir, "admin_ed25519"), "-p", port,
		"admin@127.0.0.1", "--", "--json-greppable", "--osh", "info"}
	out, err := exec.Command("ssh", args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"account":"admin"`) {
		t.Fatalf("strict non-tty first login with the printed known_hosts line: %v\n%s", err, out)
	}
	// Without the line, the same login is refused: the check is real.
	os.WriteFile(kh, nil, 0o600)
	if out, err := exec.Command("ssh", args...).CombinedOutput(); err == nil {
		t.Fatalf("strict login with an empty known_hosts succeeded:\n%s", out)
	}
}

// TestCleanShutdownLogs: the real binary, stopped with SIGTERM, logs one "shutting down" line
// and no ERROR, in JSON with --log-format json; --log-level and --log-format refuse unknown
// values; --log-level debug shows debug lines, warn hides info.
func TestCleanShutdownLogs(t *testing.T) {
	bin := buildBinary(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(dataDir, 0o700)
	os.WriteFile(filepath.Join(dataDir, "gatehouse.toml"), []byte("metricsListen = \"127.0.0.1:0\"\n"), 0o600)
	key, _ := testenv.NewKey(t, "ed25519", "alice")
	s := startServerCmd(t, exec.Command(bin, "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0",
		"--admin", "alice", "--admin-key", key+".pub", "--log-format", "json", "--log-level", "debug"))
	sshJSON(t, s.addr, key, "alice", "--osh", "info")
	// A target that is down and a name that does not resolve are in the log, not only the audit.
	closed := freePort(t)
	_, closedPort, _ := strings.Cut(closed, ":")
	if m := sshJSON(t, s.addr, key, "alice", "--osh", "selfAddPersonalAccess", "--host", "127.0.0.1", "--user-any", "--port", closedPort); m["error_code"] != "OK" {
		t.Fatalf("selfAddPersonalAccess: %v", m)
	}
	out, _ := exec.Command("ssh", sshArgs(s.addr, key, "alice", "root@127.0.0.1", "-p", closedPort, "true")...).CombinedOutput()
	t.Logf("connecting to a closed port: %s", out)
	exec.Command("ssh", sshArgs(s.addr, key, "alice", "root@no-such-host.invalid", "true")...).Run()
	// A refused login is logged too (not a secret in it: the account and the source).
	exec.Command("ssh", sshArgs(s.addr, key, "nobody", "--osh", "info")...).Run()
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, s.out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit 20 s after SIGTERM:\n%s", s.out.String())
	}
	shutting, debug := 0, 0
	for _, l := range strings.Split(strings.TrimSpace(s.out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON log line: %q", l)
		}
		switch {
		case m["level"] == "ERROR":
			t.Errorf("ERROR in a clean run: %s", l)
		case m["msg"] == "shutting down":
			shutting++
		case m["level"] == "DEBUG":
			debug++
		}
	}
	if shutting != 1 || debug == 0 {
		t.Errorf("%d \"shutting down\" lines (want 1), %d debug lines (want some):\n%s", shutting, debug, s.out.String())
	}
	for _, want := range []string{`"msg":"target connection failed","account":"alice","target":"root@127.0.0.1:` + closedPort,
		`"msg":"target name does not resolve","account":"alice","host":"no-such-host.invalid"`} {
		if !strings.Contains(s.out.String(), want) {
			t.Errorf("%s is not in the log:\n%s", want, s.out.String())
		}
	}
	if !strings.Contains(s.out.String(), `"msg":"login refused","user":"nobody"`) {
		t.Errorf("the refused login of nobody is not in the log:\n%s", s.out.String())
	}

	for _, bad := range [][]string{{"--log-level", "verbose"}, {"--log-format", "xml"}} {
		var out, errb bytes.Buffer
		args := append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0"}, bad...)
		if code := run(args, &out, &errb); code != 1 || !strings.Contains(errb.String(), bad[0]) {
			t.Errorf("%v: exit %d, %q", bad, code, errb.String())
		}
	}
	var errb bytes.Buffer
	log, _ := newLogger(&errb, "warn", "logfmt")
	log.Info("hidden")
	log.Warn("shown")
	if strings.Contains(errb.String(), "hidden") || !strings.Contains(errb.String(), "level=WARN msg=shown") {
		t.Errorf("--log-level warn: %q", errb.String())
	}
}

// TestStoreMigrationLogged: a store left by an older gatehouse (one schema version behind) is
// migrated on start and the log says so with both versions; a new store says it was created;
// the next start says nothing at the info level.
func TestStoreMigrationLogged(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	os.MkdirAll(dataDir, 0o700)
	latest := sqlite.SchemaVersion()
	if err := sqlite.CreateAtVersion(context.Background(), filepath.Join(dataDir, "gatehouse.db"), latest-1); err != nil {
		t.Fatal(err)
	}
	key, _ := testenv.NewKey(t, "ed25519", "alice")
	var out, errb bytes.Buffer
	if code := run([]string{"init", "--data-dir", dataDir, "--admin", "alice", "--admin-key", key + ".pub"}, &out, &errb); code != 0 {
		t.Fatalf("init: %d %s", code, errb.String())
	}
	want := fmt.Sprintf(`level=INFO msg="store schema migrated" from_version=%d to_version=%d`, latest-1, latest)
	if !strings.Contains(errb.String(), want) {
		t.Fatalf("the log does not say %s:\n%s", want, errb.String())
	}
	errb.Reset()
	run([]string{"init", "--data-dir", dataDir, "--admin", "alice", "--admin-key", key + ".pub"}, &out, &errb)
	if strings.Contains(errb.String(), "migrated") || strings.Contains(errb.String(), "store created") {
		t.Fatalf("an up-to-date store was reported as migrated:\n%s", errb.String())
	}
	errb.Reset()
	fresh := filepath.Join(dir, "fresh")
	run([]string{"init", "--data-dir", fresh, "--admin", "alice", "--admin-key", key + ".pub"}, &out, &errb)
	if !strings.Contains(errb.String(), fmt.Sprintf(`msg="store created" schema_version=%d`, latest)) {
		t.Fatalf("a new store:\n%s", errb.String())
	}
}

// TestSystemdUnit: contrib/gatehouse.service carries the hardening the docs promise, binds
// low ports only when the commented lines are turned on, runs the command this binary accepts,
// and systemd-analyze verify reads it without a warning (an unknown or misspelt key is a
// warning there, not an error, so any output fails).
func TestSystemdUnit(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join("..", "..", "contrib", "gatehouse.service"))
	if err != nil {
		t.Fatal(err)
	}
	active := map[string][]string{}
	for _, l := range strings.Split(string(unit), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			active[k] = append(active[k], v)
		}
	}
	for k, want := range map[string]string{"User": "gatehouse", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
		"ReadWritePaths": "/var/lib/gatehouse", "PrivateTmp": "yes", "ProtectHome": "yes", "CapabilityBoundingSet": "",
		"AmbientCapabilities": "", "StateDirectoryMode": "0700", "UMask": "0077"} {
		if len(active[k]) != 1 || active[k][0] != want {
			t.Errorf("%s=%v, want %q", k, active[k], want)
		}
	}
	if !strings.Contains(string(unit), "\n#CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n") {
		t.Error("the port-22 option is not offered as a commented line")
	}
	exec0 := strings.Fields(active["ExecStart"][0])
	var out, errb bytes.Buffer
	t.Setenv("GATEHOUSE_DATA_DIR", "")
	// The flags of ExecStart are serve's (checked by parsing them: --help stops before serving).
	if code := run(append(exec0[1:], "--help"), &out, &errb); code != 0 {
		t.Errorf("ExecStart's command line: exit %d %s", code, errb.String())
	}
	fs, _ := flags("serve", io.Discard, true)
	if err := fs.Parse(exec0[2:]); err != nil {
		t.Errorf("ExecStart's flags: %v", err)
	}

	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed (Debian package systemd): the unit was checked above only")
		return
	}
	bin := buildBinary(t)
	path := filepath.Join(t.TempDir(), "gatehouse.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/gatehouse", bin)), 0o644)
	res, err := exec.Command(sa, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(res)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, res)
	}
}

// TestKnownHostsLine: OpenSSH's known_hosts forms for each kind of listening address.
func TestKnownHostsLine(t *testing.T) {
	_, pub := testenv.NewKey(t, "ed25519", "host")
	k, _, _, _, err := ssh.ParseAuthorizedKey([]byte(pub))
	if err != nil {
		t.Fatal(err)
	}
	keyPart := strings.Join(strings.Fields(pub)[:2], " ")
	for _, tc := range []struct{ host, port, want string }{
		{"bastion.example", "22", "bastion.example"},
		{"192.0.2.7", "22", "192.0.2.7"},
		{"192.0.2.7", "2222", "[192.0.2.7]:2222"},
		{"2001:db8::7", "2222", "[2001:db8::7]:2222"},
		{"0.0.0.0", "22", "BASTION"},
		{"::", "2222", "[BASTION]:2222"},
	} {
		if got := knownHostsLine(tc.host, tc.port, k); got != tc.want+" "+keyPart {
			t.Errorf("knownHostsLine(%q, %q) = %q, want %q", tc.host, tc.port, got, tc.want+" "+keyPart)
		}
	}
}

// TestLogInjectionThroughUserName: a client (x/crypto's: OpenSSH refuses such names) logging in
// under a name holding a newline, quotes and an escape sequence cannot forge a log line: the
// name is quoted in the "login refused" line, in logfmt and in JSON.
func TestLogInjectionThroughUserName(t *testing.T) {
	bin := buildBinary(t)
	key, _ := testenv.NewKey(t, "ed25519", "mallory")
	pem, _ := os.ReadFile(key)
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"x\nlevel=ERROR msg=\"forged\"", "x\" level=ERROR msg=\"forged", "\x1b[31mred\x1b[0m"}
	for _, format := range []string{"logfmt", "json"} {
		dataDir := filepath.Join(t.TempDir(), "data")
		s := startServerCmd(t, exec.Command(bin, "serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--log-format", format))
		for _, u := range names {
			c, err := ssh.Dial("tcp", s.addr, &ssh.ClientConfig{User: u, Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
				HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
			if err == nil {
				c.Close()
				t.Fatalf("%q logged in", u)
			}
		}
		waitUntil(t, 10*time.Second, "the refusals in the log", func() bool { return strings.Count(s.out.String(), "login refused") == len(names) })
		for _, l := range strings.Split(strings.TrimSpace(s.out.String()), "\n") {
			if strings.Contains(l, "forged") && !strings.Contains(l, "login refused") || strings.Contains(l, "\x1b") ||
				strings.HasPrefix(l, "level=ERROR") || strings.Contains(l, `"level":"ERROR"`) {
				t.Errorf("%s: a forged or raw line: %q", format, l)
			}
		}
	}
}
