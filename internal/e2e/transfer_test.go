package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/sshtest"
	"gatehouse/internal/testenv"
)

// jumpEnv is a bastion, a real sshd target alice may reach, and an ssh_config whose
// "Host 127.0.0.1" goes through the bastion with ProxyJump, trusting only the bastion's jump CA.
type jumpEnv struct {
	b        *testenv.Bastion
	sshd     *sshtest.SSHD
	aliceKey string
	cfg      string // ssh_config file
	dir      string
}

func startJump(t *testing.T) *jumpEnv {
	t.Helper()
	return startJumpWith(t, testenv.Options{})
}

// startJumpWith is startJump with the bastion's options (its configuration).
func startJumpWith(t *testing.T, o testenv.Options) *jumpEnv {
	t.Helper()
	b := testenv.Start(t, o)
	sshd, aliceKey := targetSetup(t, b)
	// The transfer protocols need their own grants besides the SSH access (The Bastion's).
	for _, proto := range []string{"--scpup", "--scpdown", "--sftp", "--rsync"} {
		if r := b.Admin("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(sshd.Port), proto); r.Exit != 0 {
			t.Fatalf("grant %s: %d %s %s", proto, r.Exit, r.Stdout, r.Stderr)
		}
	}
	dir := t.TempDir()
	cfg := writeJumpConfig(t, b, aliceKey, dir)
	return &jumpEnv{b: b, sshd: sshd, aliceKey: aliceKey, cfg: cfg, dir: dir}
}

// writeJumpConfig writes, in dir, a known_hosts trusting the bastion's jump CA and an ssh_config
// sending 127.0.0.1 through the bastion as the owner of key; it returns the config's path.
func writeJumpConfig(t *testing.T, b *testenv.Bastion, key, dir string) string {
	t.Helper()
	kh := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(kh, []byte(b.App.Server.Jump.CertAuthorityLine("*")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "ssh_config")
	body := fmt.Sprintf(`Host bastion
  HostName %s
  Port %s
  User alice
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile /dev/null
  StrictHostKeyChecking no
  LogLevel ERROR
Host 127.0.0.1
  ProxyJump bastion
  UserKnownHostsFile %s
  StrictHostKeyChecking yes
  IdentitiesOnly yes
  IdentityFile /dev/null
Host localhost
  UserKnownHostsFile %s
  StrictHostKeyChecking yes
Host *
  BatchMode yes
  IdentityAgent none
  ConnectTimeout 10
`, b.Host, b.Port, key, kh, kh)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// run runs a real client (ssh, scp, sftp, rsync, git) with the stanza.
func (j *jumpEnv) run(t *testing.T, stdin string, name string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = j.dir
	cmd.Env = append(os.Environ(), "GIT_SSH_COMMAND=ssh -F "+j.cfg+" -p "+fmt.Sprint(j.sshd.Port))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &errb, strings.NewReader(stdin)
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out.String(), errb.String(), code
}

func (j *jumpEnv) target() string { return j.sshd.User + "@127.0.0.1" }

func randomFile(t *testing.T, path string, n int) []byte {
	t.Helper()
	data := make([]byte, n)
	_, _ = rand.Read(data)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return data
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s did not arrive: %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s arrived damaged: %d bytes, want %d", path, len(got), len(want))
	}
}

// auditNames waits for alice's session whose command line names want to be closed, and checks
// that its row (what selfListSessions shows) names the target.
func auditNames(t *testing.T, j *jumpEnv, want string) {
	t.Helper()
	row := closedSession(t, j.b, "alice", want)
	if !strings.Contains(row.Params, fmt.Sprintf("@127.0.0.1 -p %d", j.sshd.Port)) {
		t.Fatalf("session row %q does not name the target", row.Params)
	}
}

// TestJumpExec: `ssh -J` reaches the target through the bastion's own inner SSH server, whose
// host certificate the client checks against the one @cert-authority line; the command runs
// with alice's egress key and is audited as hers.
func TestJumpExec(t *testing.T) {
	j := startJump(t)
	port := fmt.Sprint(j.sshd.Port)
	out, errs, code := j.run(t, "", "ssh", "-F", j.cfg, "-p", port, j.target(), "echo jumped-$((6*7)); exit 3")
	if code != 3 || strings.TrimSpace(out) != "jumped-42" {
		t.Fatalf("ssh -J: exit %d out %q err %q", code, out, errs)
	}
	auditNames(t, j, "echo jumped-")
	// stdin relayed byte for byte
	payload := strings.Repeat("gatehouse", 100000)
	out, errs, code = j.run(t, payload, "ssh", "-F", j.cfg, "-p", port, j.target(), "sha256sum")
	if code != 0 || !strings.HasPrefix(out, fmt.Sprintf("%x", sha256Sum([]byte(payload)))) {
		t.Fatalf("stdin through the jump: exit %d out %q err %q", code, out, errs)
	}
}

// TestJumpSCPBothModes: scp in SFTP mode (OpenSSH's default) and in legacy mode (-O: exec
// "scp -t"/"scp -f"), up and down, through the stanza; the files arrive intact and the
// sessions name them.
func TestJumpSCPBothModes(t *testing.T) {
	j := startJump(t)
	port := fmt.Sprint(j.sshd.Port)
	remote := t.TempDir()
	for _, mode := range []struct{ name, flag string }{{"sftp", "-s"}, {"legacy", "-O"}} {
		up := filepath.Join(j.dir, "up-"+mode.name)
		data := randomFile(t, up, 300*1024+7)
		dst := filepath.Join(remote, "got-"+mode.name)
		if out, errs, code := j.run(t, "", "scp", "-F", j.cfg, mode.flag, "-P", port, up, j.target()+":"+dst); code != 0 {
			t.Fatalf("scp %s up: exit %d %q %q", mode.name, code, out, errs)
		}
		sameFile(t, dst, data)
		back := filepath.Join(j.dir, "back-"+mode.name)
		if out, errs, code := j.run(t, "", "scp", "-F", j.cfg, mode.flag, "-P", port, j.target()+":"+dst, back); code != 0 {
			t.Fatalf("scp %s down: exit %d %q %q", mode.name, code, out, errs)
		}
		sameFile(t, back, data)
		if mode.name == "sftp" {
			sum := fmt.Sprintf("%x", sha256Sum(data))
			waitAudit(t, j.b, "sftp.close", map[string]any{"path": dst, "bytes_written": fmt.Sprint(len(data)), "sha256_written": sum, "account": "alice"})
			waitAudit(t, j.b, "sftp.close", map[string]any{"path": dst, "bytes_read": fmt.Sprint(len(data)), "sha256_read": sum})
		}
	}
	auditNames(t, j, "scp -t "+filepath.Join(remote, "got-legacy"))
	auditNames(t, j, "scp -f "+filepath.Join(remote, "got-legacy"))
	auditNames(t, j, "subsystem sftp")
}

// TestJumpSFTPBatch: sftp -b runs put, get, rename, mkdir, rm through the bastion.
func TestJumpSFTPBatch(t *testing.T) {
	j := startJump(t)
	remote := t.TempDir()
	data := randomFile(t, filepath.Join(j.dir, "local.bin"), 1<<20+3)
	batch := fmt.Sprintf("mkdir %[1]s/d\nput local.bin %[1]s/d/a.bin\nrename %[1]s/d/a.bin %[1]s/d/b.bin\nget %[1]s/d/b.bin back.bin\nrm %[1]s/d/b.bin\nrmdir %[1]s/d\n", remote)
	bf := filepath.Join(j.dir, "batch")
	if err := os.WriteFile(bf, []byte(batch), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := j.run(t, "", "sftp", "-F", j.cfg, "-P", fmt.Sprint(j.sshd.Port), "-b", bf, j.target()); code != 0 {
		t.Fatalf("sftp -b: exit %d %q %q", code, out, errs)
	}
	sameFile(t, filepath.Join(j.dir, "back.bin"), data)
	if _, err := os.Stat(filepath.Join(remote, "d")); !os.IsNotExist(err) {
		t.Fatalf("rmdir did not run on the target: %v", err)
	}
	auditNames(t, j, "subsystem sftp")
	// Every operation is in the audit log with its paths; the file's totals and SHA-256 too.
	sum := fmt.Sprintf("%x", sha256Sum(data))
	a, b := filepath.Join(remote, "d/a.bin"), filepath.Join(remote, "d/b.bin")
	waitAudit(t, j.b, "sftp.mkdir", map[string]any{"path": filepath.Join(remote, "d"), "status": "ok", "account": "alice"})
	waitAudit(t, j.b, "sftp.open", map[string]any{"path": a, "flags": "write,create,truncate"})
	waitAudit(t, j.b, "sftp.close", map[string]any{"path": a, "bytes_written": fmt.Sprint(len(data)), "sha256_written": sum})
	waitAudit(t, j.b, "sftp.rename", map[string]any{"path": a, "path2": b, "status": "ok"})
	waitAudit(t, j.b, "sftp.close", map[string]any{"path": b, "bytes_read": fmt.Sprint(len(data)), "sha256_read": sum})
	waitAudit(t, j.b, "sftp.remove", map[string]any{"path": b, "status": "ok"})
	waitAudit(t, j.b, "sftp.rmdir", map[string]any{"path": filepath.Join(remote, "d"), "status": "ok", "host_to": "127.0.0.1"})
	// And counted for the metrics.
	if n := transferMetric(t, j.b, "sftp.close"); n < 2 {
		t.Fatalf("gatehouse_transfer_events_total{event=sftp.close} = %v", n)
	}
}

// transferMetric reads gatehouse_transfer_events_total{event}.
func transferMetric(t *testing.T, b *testenv.Bastion, event string) float64 {
	t.Helper()
	mfs, err := b.App.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gatehouse_transfer_events_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "event" && l.GetValue() == event {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// waitAudit waits for an audit entry of type typ holding every field of want.
func waitAudit(t *testing.T, b *testenv.Bastion, typ string, want map[string]any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
	entries:
		for _, e := range auditEntries(t, b, typ) {
			// The log keeps known fields under "fields", the others under fields.extra.
			flat := map[string]any{}
			f, _ := e["fields"].(map[string]any)
			x, _ := f["extra"].(map[string]any)
			for _, m := range []map[string]any{f, x} {
				for k, v := range m {
					flat[k] = v
				}
			}
			e := flat
			for k, v := range want {
				if fmt.Sprint(e[k]) != fmt.Sprint(v) {
					continue entries
				}
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s audit entry with %v; have %v", typ, want, auditEntries(t, b, typ))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestJumpRsync: rsync -av through the stanza, then again after one file changed: the second
// run sends only that file (incremental).
func TestJumpRsync(t *testing.T) {
	if _, err := exec.LookPath("rsync"); err != nil {
		testenv.Need(t, "rsync is not installed (scripts/test.sh installs it)")
	}
	j := startJump(t)
	src := filepath.Join(j.dir, "src")
	if err := os.MkdirAll(src, 0o700); err != nil {
		t.Fatal(err)
	}
	a := randomFile(t, filepath.Join(src, "a.bin"), 200*1024)
	randomFile(t, filepath.Join(src, "b.bin"), 100*1024)
	dst := t.TempDir()
	rsh := fmt.Sprintf("ssh -F %s -p %d", j.cfg, j.sshd.Port)
	out, errs, code := j.run(t, "", "rsync", "-av", "-e", rsh, src+"/", j.target()+":"+dst+"/")
	if code != 0 {
		t.Fatalf("rsync: exit %d %q %q", code, out, errs)
	}
	sameFile(t, filepath.Join(dst, "a.bin"), a)
	// Another size: rsync's quick check (size and mtime) must see the change within the same second.
	b2 := randomFile(t, filepath.Join(src, "b.bin"), 100*1024+1)
	out, errs, code = j.run(t, "", "rsync", "-av", "-e", rsh, src+"/", j.target()+":"+dst+"/")
	if code != 0 {
		t.Fatalf("rsync again: exit %d %q %q", code, out, errs)
	}
	if !strings.Contains(out, "b.bin") || strings.Contains(out, "a.bin") {
		t.Fatalf("second rsync is not incremental: %q", out)
	}
	sameFile(t, filepath.Join(dst, "b.bin"), b2)
	auditNames(t, j, "rsync --server")
}

// TestJumpGitClone: git clone ssh://… of a bare repository on the target, through the stanza.
func TestJumpGitClone(t *testing.T) {
	j := startJump(t)
	repo := filepath.Join(t.TempDir(), "repo.git")
	work := filepath.Join(j.dir, "work")
	for _, c := range [][]string{
		{"git", "init", "-q", "--bare", repo},
		{"git", "init", "-q", work},
		{"git", "-C", work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "first"},
		{"git", "-C", work, "push", "-q", repo, "HEAD:refs/heads/main"},
		{"git", "-C", repo, "symbolic-ref", "HEAD", "refs/heads/main"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	url := fmt.Sprintf("ssh://%s%s", j.target(), repo)
	if out, errs, code := j.run(t, "", "git", "clone", "-q", url, "clone"); code != 0 {
		t.Fatalf("git clone: exit %d %q %q", code, out, errs)
	}
	out, errs, code := j.run(t, "", "git", "-C", "clone", "log", "--format=%s")
	if code != 0 || strings.TrimSpace(out) != "first" {
		t.Fatalf("clone content: %q %q", out, errs)
	}
	auditNames(t, j, "git-upload-pack")
}

// TestJumpRefusals: through the jump, a target the account has no access to is refused and
// audited; a local forward (-L) never reaches the target's raw port (the channel is answered
// by the bastion's own SSH server, whose sessions are checked as any other); -R is refused.
func TestJumpRefusals(t *testing.T) {
	j := startJump(t)
	// A port alice has no access to on the same host.
	out, errs, code := j.run(t, "", "ssh", "-F", j.cfg, "-p", "1", j.target(), "id")
	if code != 107 || !strings.Contains(out+errs, "Access denied") {
		t.Fatalf("no access: exit %d out %q err %q", code, out, errs)
	}
	waitAudit(t, j.b, "connection.denied", map[string]any{"account": "alice", "port_to": "1"})
	// A user name that is not a valid remote user ends the inner connection at once.
	_, errs, code = j.run(t, "", "ssh", "-F", j.cfg, "-p", fmt.Sprint(j.sshd.Port), "-l", "-oops", "127.0.0.1", "id")
	if code == 0 {
		t.Fatalf("an invalid inner user was accepted: %q", errs)
	}

	// A command that looks like a bastion option runs on the target, as typed after `--`.
	out, errs, code = j.run(t, "", "ssh", "-F", j.cfg, "-p", fmt.Sprint(j.sshd.Port), j.target(), "--osh info")
	if code == 0 || strings.Contains(out+errs, "You are alice") {
		t.Fatalf("--osh through the jump reached the bastion: %d %q %q", code, out, errs)
	}
	// A jump through the jump (direct-tcpip on the inner connection) is refused.
	out, errs, code = j.run(t, "", "ssh", "-F", j.cfg, "-J", "bastion,"+j.sshd.User+"@localhost:"+fmt.Sprint(j.sshd.Port), "-p", fmt.Sprint(j.sshd.Port), j.target(), "echo nested")
	if code == 0 || strings.Contains(out, "nested") || !strings.Contains(errs, "prohibited") {
		t.Fatalf("nested jump: %d %q %q", code, out, errs)
	}

	// ssh -L: what answers on the forwarded port is gatehouse, never the target.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lport := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fwd := exec.CommandContext(ctx, "ssh", append([]string{}, "-F", "/dev/null", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-i", j.aliceKey,
		"-o", "ExitOnForwardFailure=yes", "-N", "-p", j.b.Port, "-L", fmt.Sprintf("%d:127.0.0.1:%d", lport, j.sshd.Port), "alice@"+j.b.Host)...)
	if err := fwd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = fwd.Wait() }()
	var banner string
	deadline := time.Now().Add(10 * time.Second)
	for banner == "" && time.Now().Before(deadline) {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", lport))
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		n, _ := c.Read(buf)
		c.Close()
		banner = string(buf[:n])
	}
	if !strings.HasPrefix(banner, "SSH-2.0-gatehouse") {
		t.Fatalf("the forwarded port answered %q, not the bastion", banner)
	}
	waitAudit(t, j.b, "jump.denied", map[string]any{"account": "alice", "port_to": fmt.Sprint(j.sshd.Port)})
	// ssh -R: refused.
	r := exec.Command("ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "IdentitiesOnly=yes", "-i", j.aliceKey, "-o", "ExitOnForwardFailure=yes", "-N", "-p", j.b.Port,
		"-R", "0:127.0.0.1:22", "alice@"+j.b.Host)
	if out, err := r.CombinedOutput(); err == nil || !strings.Contains(string(out), "forwarding failed") {
		t.Fatalf("-R: %v %s", err, out)
	}
	waitAudit(t, j.b, "forward.denied", map[string]any{"account": "alice"})
}

// homeWith makes a HOME with an ssh_config (HOME/.ssh/config, given with -F: OpenSSH reads
// the passwd entry's home, not $HOME) that gives alice's key to every host, trusting the
// bastion's own host key on first use, and returns the HOME.
func homeWith(t *testing.T, j *jumpEnv, extra string) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := extra + fmt.Sprintf("\nHost *\n    IdentityFile %s\n    IdentitiesOnly yes\n    BatchMode yes\n    IdentityAgent none\n    LogLevel ERROR\n    StrictHostKeyChecking accept-new\n    UserKnownHostsFile %s\n    GlobalKnownHostsFile /dev/null\n", j.aliceKey, filepath.Join(home, ".ssh", "known_hosts"))
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return home
}

func runHome(t *testing.T, home, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// TestSelfSshConfigStanza: the stanza and known_hosts line that selfSshConfig prints, pasted
// as they are, make plain scp work through the bastion, with the inner host certificate
// checked (StrictHostKeyChecking yes).
func TestSelfSshConfigStanza(t *testing.T) {
	j := startJump(t)
	r := j.b.SSH(j.aliceKey, "alice", "--json-greppable", "--osh", "selfSshConfig", "--hosts", "127.0.0.1", "--alias", "bastion")
	v, _ := r.JSON()["value"].(map[string]any)
	stanza, _ := v["ssh_config"].(string)
	known, _ := v["known_hosts"].(string)
	if r.Exit != 0 || !strings.Contains(stanza, "ProxyJump bastion") || !strings.HasPrefix(known, "@cert-authority 127.0.0.1,[127.0.0.1]:* ssh-ed25519 ") {
		t.Fatalf("selfSshConfig: exit %d %q", r.Exit, r.Stdout)
	}
	home := homeWith(t, j, stanza+"\nHost 127.0.0.1\n    StrictHostKeyChecking yes\n")
	if err := os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), []byte(known+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(home, "f.bin")
	data := randomFile(t, src, 50*1024)
	dst := filepath.Join(t.TempDir(), "f.bin")
	if out, code := runHome(t, home, "scp", "-F", filepath.Join(home, ".ssh", "config"), "-P", fmt.Sprint(j.sshd.Port), src, j.target()+":"+dst); code != 0 {
		t.Fatalf("scp with the stanza: %d %s", code, out)
	}
	sameFile(t, dst, data)
	// Without the known_hosts line, the inner host is unknown and the client refuses it.
	if err := os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := runHome(t, home, "scp", "-F", filepath.Join(home, ".ssh", "config"), "-P", fmt.Sprint(j.sshd.Port), src, j.target()+":"+dst+".2"); code == 0 {
		t.Fatalf("an unknown inner host key was accepted: %s", out)
	}
}

// TestBastionWrappers: `--osh scp|sftp|rsync` print The Bastion's kind of wrapper; used with
// scp -S, sftp -S and rsync -e, the transfer goes through the bastion and is audited.
func TestBastionWrappers(t *testing.T) {
	j := startJump(t)
	home := homeWith(t, j, "")
	wrapper := func(tool string) string {
		r := j.b.SSH(j.aliceKey, "alice", "--json-greppable", "--osh", tool)
		v, _ := r.JSON()["value"].(map[string]any)
		script, _ := v["script"].(string)
		if r.Exit != 0 || !strings.HasPrefix(script, "#!/bin/sh") {
			t.Fatalf("--osh %s: exit %d %q", tool, r.Exit, r.Stdout)
		}
		p := filepath.Join(home, "gatehouse-"+tool)
		if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	port := fmt.Sprint(j.sshd.Port)
	remote := t.TempDir()
	src := filepath.Join(home, "w.bin")
	data := randomFile(t, src, 70*1024)
	if out, code := runHome(t, home, "scp", "-F", filepath.Join(home, ".ssh", "config"), "-S", wrapper("scp"), "-P", port, src, j.target()+":"+remote+"/scp.bin"); code != 0 {
		t.Fatalf("scp -S: %d %s", code, out)
	}
	sameFile(t, filepath.Join(remote, "scp.bin"), data)
	bf := filepath.Join(home, "batch")
	_ = os.WriteFile(bf, []byte("put "+src+" "+remote+"/sftp.bin\n"), 0o600)
	if out, code := runHome(t, home, "sftp", "-F", filepath.Join(home, ".ssh", "config"), "-S", wrapper("sftp"), "-P", port, "-b", bf, j.target()); code != 0 {
		t.Fatalf("sftp -S: %d %s", code, out)
	}
	sameFile(t, filepath.Join(remote, "sftp.bin"), data)
	waitAudit(t, j.b, "sftp.close", map[string]any{"path": remote + "/sftp.bin", "bytes_written": fmt.Sprint(len(data)), "account": "alice"})
	if _, err := exec.LookPath("rsync"); err == nil {
		if out, code := runHome(t, home, "rsync", "-a", "-e", wrapper("rsync")+" -F "+filepath.Join(home, ".ssh", "config")+" -p "+port, src, j.target()+":"+remote+"/rsync.bin"); code != 0 {
			t.Fatalf("rsync -e: %d %s", code, out)
		}
		sameFile(t, filepath.Join(remote, "rsync.bin"), data)
		auditNames(t, j, "rsync --server")
	}
}

// TestJumpProtocolGrants: each transfer needs its protocol grant besides the SSH access; without
// it the transfer is refused before anything reaches the target, the client says why, and the
// refusal is audited. Shell commands still run with the SSH access alone.
func TestJumpProtocolGrants(t *testing.T) {
	j := startJump(t)
	port := fmt.Sprint(j.sshd.Port)
	remote := t.TempDir()
	src := filepath.Join(j.dir, "g.bin")
	randomFile(t, src, 1000)
	for _, proto := range []string{"--scpup", "--scpdown", "--sftp", "--rsync"} {
		if r := j.b.Admin("--osh", "accountDelPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", port, proto); r.Exit != 0 {
			t.Fatalf("del %s: %d %s", proto, r.Exit, r.Stdout)
		}
	}
	// The listing shows what is left: no protocol grant.
	if r := j.b.Admin("--osh", "accountListAccesses", "--account", "alice"); strings.Contains(r.Stdout, "!sftp") {
		t.Fatalf("a deleted grant is still listed: %s", r.Stdout)
	}
	cases := []struct {
		name  string
		proto string
		args  []string
	}{
		{"scp -O up", "scpup", []string{"scp", "-F", j.cfg, "-O", "-P", port, src, j.target() + ":" + remote + "/a"}},
		{"scp -O down", "scpdown", []string{"scp", "-F", j.cfg, "-O", "-P", port, j.target() + ":" + src, filepath.Join(j.dir, "x")}},
		{"scp sftp mode", "sftp", []string{"scp", "-F", j.cfg, "-s", "-P", port, src, j.target() + ":" + remote + "/b"}},
	}
	if _, err := exec.LookPath("rsync"); err == nil {
		cases = append(cases, struct {
			name  string
			proto string
			args  []string
		}{"rsync", "rsync", []string{"rsync", "-a", "-e", "ssh -F " + j.cfg + " -p " + port, src, j.target() + ":" + remote + "/c"}})
	}
	for _, c := range cases {
		out, errs, code := j.run(t, "", c.args[0], c.args[1:]...)
		if code == 0 {
			t.Fatalf("%s without its grant: exit 0 %q %q", c.name, out, errs)
		}
		if !strings.Contains(errs, "--"+c.proto+" grant") {
			t.Errorf("%s: the client is not told why: %q", c.name, errs)
		}
		waitAudit(t, j.b, "transfer.denied", map[string]any{"protocol": c.proto, "account": "alice", "port_to": port})
	}
	entries, _ := os.ReadDir(remote)
	if len(entries) != 0 {
		t.Fatalf("a refused transfer wrote on the target: %v", entries)
	}
	// The SSH access alone still runs commands.
	if out, errs, code := j.run(t, "", "ssh", "-F", j.cfg, "-p", port, j.target(), "echo still-here"); code != 0 || !strings.Contains(out, "still-here") {
		t.Fatalf("ssh without protocol grants: %d %q %q", code, out, errs)
	}
	// A grant for sftp does not allow scp's legacy upload.
	j.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", port, "--sftp")
	if _, _, code := j.run(t, "", "scp", "-F", j.cfg, "-s", "-P", port, src, j.target()+":"+remote+"/ok"); code != 0 {
		t.Fatal("scp in sftp mode refused with the --sftp grant")
	}
	if _, _, code := j.run(t, "", "scp", "-F", j.cfg, "-O", "-P", port, src, j.target()+":"+remote+"/no"); code == 0 {
		t.Fatal("scp -O allowed with only the --sftp grant")
	}
}

// sftpPacket builds one SFTP packet (type, then uint32 and string fields).
func sftpPacket(typ byte, fields ...any) []byte {
	body := []byte{typ}
	for _, f := range fields {
		switch v := f.(type) {
		case uint32:
			body = binary.BigEndian.AppendUint32(body, v)
		case string:
			body = binary.BigEndian.AppendUint32(body, uint32(len(v)))
			body = append(body, v...)
		}
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

// TestJumpSFTPHostileStream: raw SFTP packets sent with `ssh -s … sftp`, as an attacker would:
// a path with a NUL (OpenSSH's sftp-server would cut it and remove another file than the one
// audited), a 64 kB name and a lying length end the session before the packet reaches the
// target; the refusal is audited and nothing changes on the target.
func TestJumpSFTPHostileStream(t *testing.T) {
	j := startJump(t)
	remote := t.TempDir()
	victim := filepath.Join(remote, "victim")
	if err := os.WriteFile(victim, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	init := sftpPacket(1, uint32(3))
	for name, stream := range map[string][]byte{
		"NUL":    append(init, sftpPacket(13, uint32(1), victim+"\x00.txt")...),
		"64 kB":  append(init, sftpPacket(13, uint32(1), filepath.Join(remote, strings.Repeat("a", 64*1024)))...),
		"length": append(init, 0x7f, 0xff, 0xff, 0xff, 13),
	} {
		_, errs, code := j.run(t, string(stream), "ssh", "-F", j.cfg, "-p", fmt.Sprint(j.sshd.Port), "-s", j.target(), "sftp")
		if code == 0 {
			t.Errorf("%s: the session went on: %q", name, errs)
		}
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "keep me" {
		t.Fatalf("the target acted on a refused stream: %v %q", err, b)
	}
	waitAudit(t, j.b, "sftp.refused", map[string]any{"comment": "a path with a NUL byte", "account": "alice"})
	waitAudit(t, j.b, "sftp.refused", map[string]any{"comment": fmt.Sprintf("a path of %d bytes (at most 4096)", len(filepath.Join(remote, strings.Repeat("a", 64*1024))))})
	waitAudit(t, j.b, "sftp.refused", map[string]any{"comment": "packet of 2147483647 bytes"})
}

// TestJumpGroupProtocolGrant: a group's --sftp server entry lets its members copy with sftp
// through the stanza; its listing shows the grant; without it the same copy is refused.
func TestJumpGroupProtocolGrant(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd := sshtest.StartSSHD(t)
	aliceKey := b.CreateAccount("alice")
	r := b.MustOK("--json-greppable", "--osh", "groupCreate", "--group", "ops", "--owner", "admin")
	pub, _ := r.JSON()["value"].(map[string]any)["public_key"].(map[string]any)["line"].(string)
	if pub == "" {
		t.Fatalf("no group key: %s", r.Stdout)
	}
	sshd.Authorize(t, pub)
	port := fmt.Sprint(sshd.Port)
	b.MustOK("--osh", "groupAddMember", "--group", "ops", "--account", "alice")
	b.MustOK("--osh", "groupAddServer", "--group", "ops", "--host", "127.0.0.1", "--port", port, "--user-any")
	j := &jumpEnv{b: b, sshd: sshd, aliceKey: aliceKey, dir: t.TempDir()}
	j.cfg = writeJumpConfig(t, b, aliceKey, j.dir)
	remote := t.TempDir()
	src := filepath.Join(j.dir, "g.bin")
	data := randomFile(t, src, 4096)
	if _, errs, code := j.run(t, "", "scp", "-F", j.cfg, "-P", port, src, j.target()+":"+remote+"/no"); code == 0 || !strings.Contains(errs, "--sftp grant") {
		t.Fatalf("sftp without the group's grant: %d %q", code, errs)
	}
	b.MustOK("--osh", "groupAddServer", "--group", "ops", "--host", "127.0.0.1", "--port", port, "--sftp")
	if lr := b.Admin("--osh", "groupListServers", "--group", "ops"); !strings.Contains(lr.Stdout, "!sftp") {
		t.Fatalf("the listing does not show the grant: %s", lr.Stdout)
	}
	if out, errs, code := j.run(t, "", "scp", "-F", j.cfg, "-P", port, src, j.target()+":"+remote+"/yes"); code != 0 {
		t.Fatalf("sftp with the group's grant: %d %q %q", code, out, errs)
	}
	sameFile(t, filepath.Join(remote, "yes"), data)
	b.MustOK("--osh", "groupDelServer", "--group", "ops", "--host", "127.0.0.1", "--port", port, "--sftp")
	if _, _, code := j.run(t, "", "scp", "-F", j.cfg, "-P", port, src, j.target()+":"+remote+"/again"); code == 0 {
		t.Fatal("sftp allowed after groupDelServer --sftp")
	}
}
