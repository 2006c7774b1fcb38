package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/testenv"
)

// userTarget is the user name that carries alice's target: alice:USER@127.0.0.1:PORT.
func (j *jumpEnv) userTarget() string {
	return fmt.Sprintf("alice:%s@127.0.0.1:%d", j.sshd.User, j.sshd.Port)
}

// TestUserTargetEveryClient: `ssh 'alice:root@host:port'@bastion` (the target in the user name,
// for clients that cannot ProxyJump): exec, a pty shell, scp in both modes, sftp -b and rsync
// reach the target through the bastion with alice's egress key, each audited as hers with the
// target; files arrive intact.
func TestUserTargetEveryClient(t *testing.T) {
	j := startJump(t)
	user := "User=" + j.userTarget()
	// exec: the exit status and stdin come back
	out, errs, code := j.run(t, "", "ssh", "-F", j.cfg, "-o", user, "bastion", "echo in-user-$((6*7)); exit 5")
	if code != 5 || strings.TrimSpace(out) != "in-user-42" {
		t.Fatalf("exec: exit %d out %q err %q", code, out, errs)
	}
	auditNames(t, j, "echo in-user-")
	// the command runs on the target, never as a bastion command
	out, errs, code = j.run(t, "", "ssh", "-F", j.cfg, "-o", user, "bastion", "--osh info")
	if code == 0 || strings.Contains(out+errs, "You are alice") {
		t.Fatalf("--osh reached the bastion: %d %q %q", code, out, errs)
	}
	// a shell with a pty
	out, errs, code = j.run(t, "echo shell-$((2*21))\nexit 7\n", "ssh", "-tt", "-F", j.cfg, "-o", user, "bastion")
	if code != 7 || !strings.Contains(out, "shell-42") {
		t.Fatalf("shell: exit %d out %q err %q", code, out, errs)
	}
	remote := t.TempDir()
	for _, mode := range []struct{ name, flag string }{{"sftp", "-s"}, {"legacy", "-O"}} {
		up := filepath.Join(j.dir, "ut-"+mode.name)
		data := randomFile(t, up, 200*1024+3)
		dst := filepath.Join(remote, "ut-got-"+mode.name)
		if out, errs, code := j.run(t, "", "scp", "-F", j.cfg, "-o", user, mode.flag, up, "bastion:"+dst); code != 0 {
			t.Fatalf("scp %s up: exit %d %q %q", mode.name, code, out, errs)
		}
		sameFile(t, dst, data)
		back := filepath.Join(j.dir, "ut-back-"+mode.name)
		if out, errs, code := j.run(t, "", "scp", "-F", j.cfg, "-o", user, mode.flag, "bastion:"+dst, back); code != 0 {
			t.Fatalf("scp %s down: exit %d %q %q", mode.name, code, out, errs)
		}
		sameFile(t, back, data)
		if mode.name == "sftp" {
			waitAudit(t, j.b, "sftp.close", map[string]any{"path": dst, "bytes_written": fmt.Sprint(len(data)), "account": "alice",
				"sha256_written": fmt.Sprintf("%x", sha256Sum(data)), "host_to": "127.0.0.1"})
		}
	}
	auditNames(t, j, "scp -t "+filepath.Join(remote, "ut-got-legacy"))
	// sftp -b
	data := randomFile(t, filepath.Join(j.dir, "ut-batch.bin"), 64*1024)
	bf := filepath.Join(j.dir, "ut-batch")
	if err := os.WriteFile(bf, []byte(fmt.Sprintf("put ut-batch.bin %[1]s/b.bin\nrename %[1]s/b.bin %[1]s/c.bin\n", remote)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := j.run(t, "", "sftp", "-F", j.cfg, "-o", user, "-b", bf, "bastion"); code != 0 {
		t.Fatalf("sftp -b: exit %d %q %q", code, out, errs)
	}
	sameFile(t, filepath.Join(remote, "c.bin"), data)
	waitAudit(t, j.b, "sftp.rename", map[string]any{"path": remote + "/b.bin", "path2": remote + "/c.bin", "account": "alice"})
	// rsync
	if _, err := exec.LookPath("rsync"); err != nil {
		testenv.Need(t, "rsync is not installed (scripts/test.sh installs it)")
	}
	src := filepath.Join(j.dir, "ut-src")
	if err := os.MkdirAll(src, 0o700); err != nil {
		t.Fatal(err)
	}
	r := randomFile(t, filepath.Join(src, "r.bin"), 100*1024)
	rsh := fmt.Sprintf("ssh -F %s -o User=%s", j.cfg, j.userTarget())
	if out, errs, code := j.run(t, "", "rsync", "-av", "-e", rsh, src+"/", "bastion:"+remote+"/rs/"); code != 0 {
		t.Fatalf("rsync: exit %d %q %q", code, out, errs)
	}
	sameFile(t, filepath.Join(remote, "rs", "r.bin"), r)
	auditNames(t, j, "rsync --server")
}

// TestUserTargetRefusals: a user name whose target does not parse is refused at login with the
// reason (the banner), a target the account has no access to is refused and audited as any
// connection, and a transfer without its protocol grant is refused before the target sees it.
func TestUserTargetRefusals(t *testing.T) {
	// Each bad name is a refused login: no penalty for the test's one source.
	j := startJumpWith(t, testenv.Options{Config: "perSourcePenalties = false\n"})
	for _, bad := range []string{
		"alice:root@db1@db2", "alice:root@127.0.0.1:0", "alice:root@127.0.0.1:1:2", "alice:-oProxyCommand=id@127.0.0.1",
		"alice:root@127.0.0.0/8", "alice:127.0.0.1", "alice:root@" + strings.Repeat("a", 300),
	} {
		out, errs, code := j.run(t, "", "ssh", "-F", j.cfg, "-o", "LogLevel=INFO", "-o", "User="+bad, "bastion", "id")
		if code != 255 || strings.Contains(out, "uid=") || !strings.Contains(errs, "gatehouse: bad user name") {
			t.Errorf("user %.40q: exit %d out %q err %q", bad, code, out, errs)
		}
	}
	// No access to port 1 of the target.
	out, errs, code := j.run(t, "", "ssh", "-F", j.cfg, "-o", "User=alice:"+j.sshd.User+"@127.0.0.1:1", "bastion", "id")
	if code != 107 || !strings.Contains(out+errs, "Access denied") {
		t.Fatalf("no access: exit %d out %q err %q", code, out, errs)
	}
	waitAudit(t, j.b, "connection.denied", map[string]any{"account": "alice", "port_to": "1"})
	// Another account's name with alice's key: refused.
	j.b.CreateAccount("bob")
	_, errs, code = j.run(t, "", "ssh", "-F", j.cfg, "-o", "User=bob:"+j.sshd.User+"@127.0.0.1:"+fmt.Sprint(j.sshd.Port), "bastion", "id")
	if code != 255 {
		t.Fatalf("alice's key logged in as bob: %d %q", code, errs)
	}
	// Without the --sftp grant, sftp through the user name is refused and nothing is written.
	port := fmt.Sprint(j.sshd.Port)
	j.b.MustOK("--osh", "accountDelPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", port, "--sftp")
	remote := t.TempDir()
	src := filepath.Join(j.dir, "nogrant")
	randomFile(t, src, 1000)
	_, errs, code = j.run(t, "", "scp", "-F", j.cfg, "-o", "User="+j.userTarget(), "-s", src, "bastion:"+remote+"/x")
	if code == 0 || !strings.Contains(errs, "--sftp grant") {
		t.Fatalf("sftp without grant: %d %q", code, errs)
	}
	waitAudit(t, j.b, "transfer.denied", map[string]any{"protocol": "sftp", "account": "alice", "port_to": port})
	if entries, _ := os.ReadDir(remote); len(entries) != 0 {
		t.Fatalf("a refused transfer wrote on the target: %v", entries)
	}
}

// TestPlainExecProtocolGrants: on the plain path (`ssh alice@bastion -- root@host scp -t /x`,
// what scp -S and rsync -e wrappers send), scp's and rsync's server sides need their protocol
// grant as on the jump: refused with the reason and 107, audited, nothing written; with the
// grant the same copy arrives.
func TestPlainExecProtocolGrants(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, key := targetSetup(t, b)
	port := fmt.Sprint(sshd.Port)
	dest := sshd.User + "@127.0.0.1"
	remote := t.TempDir()
	sink := "C0644 5 x\nhello\x00"
	r := b.SSHIn(strings.NewReader(sink), key, "alice", dest, "-p", port, "--", "scp -t "+remote+"/x")
	if r.Exit != 107 || !strings.Contains(r.Stdout+r.Stderr, "--scpup grant") {
		t.Fatalf("scp -t without grant: %d %q %q", r.Exit, r.Stdout, r.Stderr)
	}
	waitAudit(t, b, "transfer.denied", map[string]any{"protocol": "scpup", "account": "alice", "port_to": port})
	for _, c := range []struct{ cmd, proto string }{
		{"scp -f /etc/hostname", "scpdown"}, {"rsync --server --sender -vlogDtpre.iLsfxCIvu . /etc/hostname", "rsync"},
		{"/usr/bin/scp -pt " + remote + "/y", "scpup"},
	} {
		r := b.SSHIn(strings.NewReader(""), key, "alice", dest, "-p", port, "--", c.cmd)
		if r.Exit != 107 || !strings.Contains(r.Stdout+r.Stderr, "--"+c.proto+" grant") {
			t.Fatalf("%s without grant: %d %q %q", c.cmd, r.Exit, r.Stdout, r.Stderr)
		}
	}
	if entries, _ := os.ReadDir(remote); len(entries) != 0 {
		t.Fatalf("a refused transfer wrote on the target: %v", entries)
	}
	// Other commands need the SSH access alone.
	if r := b.SSH(key, "alice", dest, "-p", port, "--", "echo plain-ok"); r.Exit != 0 || !strings.Contains(r.Stdout, "plain-ok") {
		t.Fatalf("plain command: %d %q %q", r.Exit, r.Stdout, r.Stderr)
	}
	b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", port, "--scpup")
	// The Bastion's --osh scp form cannot smuggle a command after scp's: refused before anything runs.
	for _, enc := range []string{"scp#-t#" + remote + "/y;touch#" + remote + "/pwned", "scp#-t#$(touch#" + remote + "/pwned)", "touch#" + remote + "/pwned", "scp#-t#" + remote + "/y|id"} {
		r := b.SSH(key, "alice", "--user", sshd.User, "--port", port, "--host", "127.0.0.1", "--osh", "scp", "--scp-cmd", "'"+enc+"'")
		if r.Exit != 111 {
			t.Errorf("--scp-cmd %q: exit %d %q %q", enc, r.Exit, r.Stdout, r.Stderr)
		}
	}
	// A subsystem request naming anything but a target's sftp is refused.
	for _, line := range []string{"--osh info", "--host 127.0.0.1 --osh scp --scp-cmd scp#-t#/tmp/x", "sftp"} {
		args := append(b.SSHArgs(key, "alice"), "-s", "--", line)
		out, err := exec.Command("ssh", args...).CombinedOutput()
		if err == nil || strings.Contains(string(out), "You are alice") {
			t.Errorf("subsystem %q accepted: %s", line, out)
		}
	}
	if entries, _ := os.ReadDir(remote); len(entries) != 0 {
		t.Fatalf("an injected command ran on the target: %v", entries)
	}
	r = b.SSHIn(strings.NewReader(sink), key, "alice", dest, "-p", port, "--", "scp -t "+remote+"/x")
	if r.Exit != 0 {
		t.Fatalf("scp -t with the grant: %d %q %q", r.Exit, r.Stdout, r.Stderr)
	}
	sameFile(t, filepath.Join(remote, "x"), []byte("hello"))
}

// TestTransferRecordingChoice: by default a transfer's recording keeps a marker only (its files,
// sizes and hashes are in the audit), so a copy does not become a recording of its size;
// transferRecording = "full" records the bytes the target sends. A shell command is recorded
// either way, and `scp -f` followed by shell syntax is not a transfer.
func TestTransferRecordingChoice(t *testing.T) {
	for _, mode := range []string{"metadata", "full"} {
		t.Run(mode, func(t *testing.T) {
			j := startJumpWith(t, testenv.Options{Config: "transferRecording = \"" + mode + "\"\n"})
			remote := t.TempDir()
			src := filepath.Join(remote, "big.bin")
			data := randomFile(t, src, 512*1024)
			port := fmt.Sprint(j.sshd.Port)
			for _, flag := range []string{"-s", "-O"} {
				dst := filepath.Join(j.dir, "got"+flag)
				if out, errs, code := j.run(t, "", "scp", "-F", j.cfg, flag, "-P", port, j.target()+":"+src, dst); code != 0 {
					t.Fatalf("scp %s: %d %q %q", flag, code, out, errs)
				}
				sameFile(t, dst, data)
			}
			for _, marker := range []string{"subsystem sftp", "scp -f " + src} {
				row := closedSession(t, j.b, "alice", marker)
				small := row.Size < 64*1024
				if (mode == "metadata") != small {
					t.Errorf("%s: %s recording is %d bytes", mode, marker, row.Size)
				}
				if mode == "metadata" && !strings.Contains(row.Comment, "content not recorded") {
					t.Errorf("%s: row comment %q", marker, row.Comment)
				}
			}
			// Not a transfer: recorded whole in both modes.
			if out, _, code := j.run(t, "", "ssh", "-F", j.cfg, "-p", port, j.target(), "head -c 300000 "+src+" | base64"); code != 0 || len(out) < 300000 {
				t.Fatalf("shell command: %d, %d bytes", code, len(out))
			}
			if row := closedSession(t, j.b, "alice", "head -c 300000"); row.Size < 100*1024 {
				t.Errorf("a shell command's output was not recorded: %d bytes", row.Size)
			}
			// A transfer's first word followed by shell syntax is not a transfer for the recording
			// (it is recorded as any session), and once its output stops being scp's stream the
			// scp audit cuts the session (fail closed): nothing is relayed unaudited.
			if _, _, code := j.run(t, "", "ssh", "-F", j.cfg, "-p", port, j.target(), "scp -f "+src+"; head -c 200000 "+src+" | base64 # hide"); code == 0 {
				t.Error("scp -f followed by another command's output was relayed")
			}
			if row := closedSession(t, j.b, "alice", "# hide"); strings.Contains(row.Comment, "content not recorded") {
				t.Errorf("scp -f followed by a command was treated as a transfer: %q", row.Comment)
			}
			waitAudit(t, j.b, "scp.refused", map[string]any{"account": "alice", "path": src + ";"})
		})
	}
}

// TestSCPFileListAudited: scp's legacy mode (-O, -r) through the jump: each file copied is an
// audit event scp.file with its path, size and SHA-256, as SFTP operations are; a stream that
// lies (a "..", a '/', a NUL or a 64 kB name, more data than announced) is cut before the target
// sees the line, audited scp.refused, and nothing is written.
func TestSCPFileListAudited(t *testing.T) {
	j := startJump(t)
	port := fmt.Sprint(j.sshd.Port)
	src := filepath.Join(j.dir, "tree")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	a := randomFile(t, filepath.Join(src, "a.bin"), 70*1024+1)
	b := randomFile(t, filepath.Join(src, "sub", "b.bin"), 3000)
	remote := t.TempDir()
	if out, errs, code := j.run(t, "", "scp", "-F", j.cfg, "-O", "-r", "-P", port, src, j.target()+":"+remote+"/"); code != 0 {
		t.Fatalf("scp -O -r up: %d %q %q", code, out, errs)
	}
	sameFile(t, filepath.Join(remote, "tree", "sub", "b.bin"), b)
	waitAudit(t, j.b, "scp.file", map[string]any{"account": "alice", "path": "tree/a.bin", "bytes_written": fmt.Sprint(len(a)), "sha256_written": fmt.Sprintf("%x", sha256Sum(a))})
	waitAudit(t, j.b, "scp.file", map[string]any{"account": "alice", "path": "tree/sub/b.bin", "sha256_written": fmt.Sprintf("%x", sha256Sum(b)), "host_to": "127.0.0.1"})
	back := filepath.Join(j.dir, "back.bin")
	if out, errs, code := j.run(t, "", "scp", "-F", j.cfg, "-O", "-P", port, j.target()+":"+remote+"/tree/a.bin", back); code != 0 {
		t.Fatalf("scp -O down: %d %q %q", code, out, errs)
	}
	sameFile(t, back, a)
	waitAudit(t, j.b, "scp.file", map[string]any{"account": "alice", "path": "a.bin", "path2": remote + "/tree/a.bin", "bytes_read": fmt.Sprint(len(a)), "sha256_read": fmt.Sprintf("%x", sha256Sum(a))})

	// Lying streams on the plain path, as a hostile client would send them.
	bad := t.TempDir()
	for _, c := range []struct{ name, stream string }{
		{"dotdot", "C0644 1 ..\nx\x00"},
		{"slash", "C0644 1 ../escape\nx\x00"},
		{"nul", "C0644 1 a\x00b\nx\x00"},
		{"64kB", "C0644 1 " + strings.Repeat("n", 64*1024) + "\nx\x00"},
		{"lying size", "C0644 1 liar\nxyz\x00C0644 1 second\ny\x00"},
	} {
		r := j.b.SSHIn(strings.NewReader(c.stream), j.aliceKey, "alice", j.target(), "-p", port, "--", "scp -t "+bad+"/")
		if r.Exit == 0 {
			t.Errorf("%s: accepted (%q %q)", c.name, r.Stdout, r.Stderr)
		}
	}
	waitAudit(t, j.b, "scp.refused", map[string]any{"account": "alice", "path": bad + "/"})
	// A client that closes in the middle of a file: the file is audited as failed, without a hash.
	cut := "C0644 100000 cut\n" + strings.Repeat("x", 1000)
	j.b.SSHIn(strings.NewReader(cut), j.aliceKey, "alice", j.target(), "-p", port, "--", "scp -t "+bad+"/")
	waitAudit(t, j.b, "scp.file", map[string]any{"account": "alice", "path": "cut", "status": "failed", "bytes_written": "1000"})
	entries, _ := os.ReadDir(bad)
	for _, e := range entries {
		// The lying size's first file is whole when the lie is seen (its byte was announced);
		// nothing after the lie reaches the target.
		if e.Name() != "liar" && e.Name() != "cut" { // cut: what the target's scp kept of it
			t.Errorf("written on the target: %s", e.Name())
		}
	}
}

// TestBastionSftpPluginHostileStream: The Bastion's `--host H --osh sftp` on the plain path gets
// the same SFTP audit as a jump: a path with NUL, a 64 kB path or a lying length ends the
// session before the target acts, audited sftp.refused (the honest way is TestAnsibleThroughBastionWrapper's).
func TestBastionSftpPluginHostileStream(t *testing.T) {
	j := startJump(t)
	remote := t.TempDir()
	victim := filepath.Join(remote, "victim")
	if err := os.WriteFile(victim, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	line := []string{"--user", j.sshd.User, "--port", fmt.Sprint(j.sshd.Port), "--host", "127.0.0.1", "--osh", "sftp"}
	init := sftpPacket(1, uint32(3))
	for name, stream := range map[string][]byte{
		"NUL":    append(init, sftpPacket(13, uint32(1), victim+"\x00.txt")...),
		"64 kB":  append(init, sftpPacket(13, uint32(1), filepath.Join(remote, strings.Repeat("a", 64*1024)))...),
		"length": append(init, 0x7f, 0xff, 0xff, 0xff, 13),
	} {
		r := j.b.SSHIn(bytes.NewReader(stream), j.aliceKey, "alice", line...)
		if r.Exit == 0 {
			t.Errorf("%s: the session went on", name)
		}
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "keep me" {
		t.Fatalf("the target acted on a refused stream: %v %q", err, b)
	}
	waitAudit(t, j.b, "sftp.refused", map[string]any{"comment": "a path with a NUL byte", "account": "alice"})
	waitAudit(t, j.b, "sftp.refused", map[string]any{"comment": "packet of 2147483647 bytes", "account": "alice"})
}

// TestSCPTargetClosesMidTransfer: a target whose scp dies in the middle of a file (here a fake
// scp that sends a header and 10 of its 1000 bytes): the session ends with a failure, and the
// audit names the file as failed, with the bytes that came and no hash.
func TestSCPTargetClosesMidTransfer(t *testing.T) {
	j := startJump(t)
	bin := t.TempDir()
	fake := filepath.Join(bin, "scp")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nprintf 'C0644 1000 half\\n0123456789'\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The fake runs as scp's server side (its name is scp) through the plain path.
	r := j.b.SSHIn(strings.NewReader("\x00\x00\x00"), j.aliceKey, "alice", j.target(), "-p", fmt.Sprint(j.sshd.Port), "--", fake+" -f /srv/x")
	if r.Exit == 0 {
		t.Fatalf("a transfer cut by the target ended well: %q", r.Stderr)
	}
	waitAudit(t, j.b, "scp.file", map[string]any{"account": "alice", "path": "half", "status": "failed", "bytes_read": "10",
		"comment": "transfer ended before the file's end"})
}
