package e2e

// Issue 12, "Tests and figures": the clients and ways the existing tests did not cover yet
// (the target in the user name for git, rsync's incremental run and Ansible; The Bastion's
// wrappers with the audit checked for each client; an editor's remote mode; the auditor's
// question "who copied /etc/shadow from db1, when"). Each runs the real client against a real
// sshd through gatehouse, checks the file arrived intact, and that the audit names it.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIssue12UserNameGitAndRsyncIncremental: through the target in the user name
// (`ssh 'alice:root@host:port'@bastion`), git clone of a bare repository on the target (its
// files and history arrive whole) and rsync -av twice, the second run sending only the file
// that changed; rsync's own file list is audited file by file.
func TestIssue12UserNameGitAndRsyncIncremental(t *testing.T) {
	needTool(t, "rsync", "rsync")
	j := startJump(t)
	userOpt := "User=" + j.userTarget()

	// git: a bare repository with one file on the target, cloned through the bastion.
	repo := filepath.Join(t.TempDir(), "repo.git")
	work := filepath.Join(j.dir, "work")
	content := randomFile(t, filepath.Join(t.TempDir(), "blob"), 40*1024)
	for _, c := range [][]string{
		{"git", "init", "-q", "--bare", repo},
		{"git", "init", "-q", work},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(work, "data.bin"), content, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{
		{"git", "-C", work, "add", "data.bin"},
		{"git", "-C", work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "with data"},
		{"git", "-C", work, "push", "-q", repo, "HEAD:refs/heads/main"},
		{"git", "-C", repo, "symbolic-ref", "HEAD", "refs/heads/main"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c, err, out)
		}
	}
	want, err := exec.Command("git", "-C", repo, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	// GIT_SSH_COMMAND carries the stanza and the user name; the URL names the bastion.
	t.Setenv("GIT_SSH_COMMAND", "ssh -F "+j.cfg+" -o "+userOpt)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	clone := filepath.Join(j.dir, "clone-user")
	cmd := exec.CommandContext(ctx, "git", "clone", "-q", "ssh://bastion"+repo, clone)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git clone through the user name: %v %s", err, out)
	}
	got, err := exec.Command("git", "-C", clone, "rev-parse", "HEAD").Output()
	if err != nil || string(got) != string(want) {
		t.Fatalf("the clone's HEAD is %q, the target's %q (%v)", got, want, err)
	}
	sameFile(t, filepath.Join(clone, "data.bin"), content)
	auditNames(t, j, "git-upload-pack")

	// rsync -av, then again after one file changed: only that one is sent.
	src := filepath.Join(j.dir, "rs-src")
	if err := os.MkdirAll(src, 0o700); err != nil {
		t.Fatal(err)
	}
	a := randomFile(t, filepath.Join(src, "a.bin"), 150*1024)
	randomFile(t, filepath.Join(src, "b.bin"), 90*1024)
	dst := t.TempDir()
	rsh := "ssh -F " + j.cfg + " -o " + userOpt
	out, errs, code := j.run(t, "", "rsync", "-av", "-e", rsh, src+"/", "bastion:"+dst+"/")
	if code != 0 {
		t.Fatalf("rsync: exit %d %q %q", code, out, errs)
	}
	sameFile(t, filepath.Join(dst, "a.bin"), a)
	waitAudit(t, j.b, "rsync.file", map[string]any{"account": "alice", "path": "a.bin", "size": fmt.Sprint(len(a)), "direction": "upload", "host_to": "127.0.0.1"})
	b2 := randomFile(t, filepath.Join(src, "b.bin"), 90*1024+1) // another size: the quick check sees it
	out, errs, code = j.run(t, "", "rsync", "-av", "-e", rsh, src+"/", "bastion:"+dst+"/")
	if code != 0 {
		t.Fatalf("rsync again: exit %d %q %q", code, out, errs)
	}
	if !strings.Contains(out, "b.bin") || strings.Contains(out, "a.bin") {
		t.Fatalf("the second rsync through the user name is not incremental: %q", out)
	}
	sameFile(t, filepath.Join(dst, "b.bin"), b2)
	waitAudit(t, j.b, "rsync.file", map[string]any{"account": "alice", "path": "b.bin", "size": fmt.Sprint(len(b2)), "direction": "upload"})
	auditNames(t, j, "rsync --server")
}

// TestIssue12AnsibleThroughUserName: Debian's ansible (ping, copy, template, fetch) reaching the
// target through the target-in-the-user-name form: the inventory's host is the bastion, its
// ansible_user the whole 'alice:root@host:port'; files by sftp (the default) and by scp -O.
func TestIssue12AnsibleThroughUserName(t *testing.T) {
	j := startJump(t)
	for _, mode := range []struct {
		via string
		env []string
	}{
		{"sftp", []string{"ANSIBLE_SSH_TRANSFER_METHOD=sftp"}},
		{"scp", []string{"ANSIBLE_SSH_TRANSFER_METHOD=scp", "ANSIBLE_SCP_EXTRA_ARGS=-O"}},
	} {
		t.Run(mode.via, func(t *testing.T) {
			a := newAnsible(t, j, append([]string{"ANSIBLE_SSH_ARGS=-F " + j.cfg + " -o ControlMaster=auto -o ControlPersist=30s"}, mode.env...)...)
			// The bastion's alias from the stanza, the target in the user name.
			inv := fmt.Sprintf("[targets]\nbastion ansible_user=%s ansible_python_interpreter=/usr/bin/python3\n", j.userTarget())
			if err := os.WriteFile(a.inv, []byte(inv), 0o600); err != nil {
				t.Fatal(err)
			}
			a.playModulesAs(t, mode.via, "bastion")
		})
	}
}

// playModulesAs is playModules for an inventory whose host is named host (the template renders
// inventory_hostname).
func (a *ansibleEnv) playModulesAs(t *testing.T, via, host string) {
	t.Helper()
	if out := a.run(t, "ping", ""); !strings.Contains(out, `"ping": "pong"`) {
		t.Fatalf("ping: %s", out)
	}
	src := filepath.Join(a.home, "copy-src.bin")
	data := randomFile(t, src, 60*1024+3)
	dst := filepath.Join(a.remote, "copied.bin")
	a.run(t, "copy", fmt.Sprintf("src=%s dest=%s", src, dst))
	sameFile(t, dst, data)
	a.audited(t, via, "written", data)
	tpl := filepath.Join(a.home, "t.j2")
	if err := os.WriteFile(tpl, []byte("host={{ inventory_hostname }} via="+via+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tdst := filepath.Join(a.remote, "templated.txt")
	a.run(t, "template", fmt.Sprintf("src=%s dest=%s", tpl, tdst))
	rendered := []byte("host=" + host + " via=" + via + "\n")
	sameFile(t, tdst, rendered)
	a.audited(t, via, "written", rendered)
	fsrc := filepath.Join(a.remote, "to-fetch.bin")
	fdata := randomFile(t, fsrc, 21*1024+1)
	fdst := filepath.Join(a.home, "fetched.bin")
	a.run(t, "fetch", fmt.Sprintf("src=%s dest=%s flat=yes", fsrc, fdst))
	sameFile(t, fdst, fdata)
	a.audited(t, via, "read", fdata)
	if via == "scp" {
		waitAudit(t, a.j.b, "scp.file", map[string]any{"account": "alice", "path2": fsrc, "sha256_read": fmt.Sprintf("%x", sha256Sum(fdata))})
	}
}

// TestIssue12BastionWrappersEachAudited: the wrappers `--osh scp|sftp|rsync` print, used as a
// user would (scp -S in both modes, sftp -S, rsync -e run twice): each file arrives intact and
// the audit names it with its hash (scp's SFTP mode and sftp: sftp.close; scp -O: scp.file;
// rsync: rsync.file), and the second rsync sends only what changed.
func TestIssue12BastionWrappersEachAudited(t *testing.T) {
	needTool(t, "rsync", "rsync")
	j := startJump(t)
	home := homeWith(t, j, "")
	cfg := filepath.Join(home, ".ssh", "config")
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
	scpW := wrapper("scp")
	for _, mode := range []struct{ name, flag string }{{"sftp", "-s"}, {"legacy", "-O"}} {
		src := filepath.Join(home, "w-"+mode.name+".bin")
		data := randomFile(t, src, 80*1024+11)
		dst := filepath.Join(remote, "scp-"+mode.name+".bin")
		if out, code := runHome(t, home, "scp", "-F", cfg, "-S", scpW, mode.flag, "-P", port, src, j.target()+":"+dst); code != 0 {
			t.Fatalf("scp -S %s up: %d %s", mode.flag, code, out)
		}
		sameFile(t, dst, data)
		back := filepath.Join(home, "back-"+mode.name+".bin")
		if out, code := runHome(t, home, "scp", "-F", cfg, "-S", scpW, mode.flag, "-P", port, j.target()+":"+dst, back); code != 0 {
			t.Fatalf("scp -S %s down: %d %s", mode.flag, code, out)
		}
		sameFile(t, back, data)
		sum := fmt.Sprintf("%x", sha256Sum(data))
		if mode.name == "sftp" {
			waitAudit(t, j.b, "sftp.close", map[string]any{"account": "alice", "path": dst, "sha256_written": sum, "host_to": "127.0.0.1"})
			waitAudit(t, j.b, "sftp.close", map[string]any{"account": "alice", "path": dst, "sha256_read": sum})
		} else {
			waitAudit(t, j.b, "scp.file", map[string]any{"account": "alice", "path2": dst, "sha256_written": sum, "host_to": "127.0.0.1"})
			waitAudit(t, j.b, "scp.file", map[string]any{"account": "alice", "path2": dst, "sha256_read": sum})
		}
	}
	// sftp -S, a batch that puts and gets.
	src := filepath.Join(home, "sftp.bin")
	data := randomFile(t, src, 50*1024+1)
	bf := filepath.Join(home, "batch")
	dst := filepath.Join(remote, "sftp.bin")
	if err := os.WriteFile(bf, []byte(fmt.Sprintf("put %s %s\nget %s %s.back\n", src, dst, dst, src)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := runHome(t, home, "sftp", "-F", cfg, "-S", wrapper("sftp"), "-P", port, "-b", bf, j.target()); code != 0 {
		t.Fatalf("sftp -S: %d %s", code, out)
	}
	sameFile(t, dst, data)
	sameFile(t, src+".back", data)
	waitAudit(t, j.b, "sftp.close", map[string]any{"account": "alice", "path": dst, "sha256_written": fmt.Sprintf("%x", sha256Sum(data))})
	// rsync -e, twice.
	rsW := wrapper("rsync") + " -F " + cfg + " -p " + port
	dir := filepath.Join(home, "rs")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	a := randomFile(t, filepath.Join(dir, "a.bin"), 70*1024)
	randomFile(t, filepath.Join(dir, "b.bin"), 30*1024)
	if out, code := runHome(t, home, "rsync", "-av", "-e", rsW, dir+"/", j.target()+":"+remote+"/rs/"); code != 0 {
		t.Fatalf("rsync -e wrapper: %d %s", code, out)
	}
	sameFile(t, filepath.Join(remote, "rs", "a.bin"), a)
	waitAudit(t, j.b, "rsync.file", map[string]any{"account": "alice", "path": "a.bin", "size": fmt.Sprint(len(a)), "direction": "upload"})
	b2 := randomFile(t, filepath.Join(dir, "b.bin"), 30*1024+5)
	out, code := runHome(t, home, "rsync", "-av", "-e", rsW, dir+"/", j.target()+":"+remote+"/rs/")
	if code != 0 {
		t.Fatalf("rsync -e wrapper again: %d %s", code, out)
	}
	if !strings.Contains(out, "b.bin") || strings.Contains(out, "a.bin") {
		t.Fatalf("the second rsync through the wrapper is not incremental: %q", out)
	}
	sameFile(t, filepath.Join(remote, "rs", "b.bin"), b2)
	auditNames(t, j, "rsync --server")
}

// TestIssue12VimNetrwThroughStanza: an editor's remote mode, vim's netrw (`vim
// scp://root@host:port//path`), with nothing but the stanza: vim reads the file on the target
// through the bastion, the edit is written back there, and the audit names both transfers with
// the hashes of what was read and written.
func TestIssue12VimNetrwThroughStanza(t *testing.T) {
	needTool(t, "vim", "vim")
	j := startJump(t)
	remote := t.TempDir()
	path := filepath.Join(remote, "notes.txt")
	before := []byte("first line on the target\nsecond line ✓\n")
	if err := os.WriteFile(path, before, 0o600); err != nil {
		t.Fatal(err)
	}
	// netrw runs g:netrw_scp_cmd with -P PORT from the URL; the stanza comes with -F. The edit
	// appends a line made from what was read (its line count), so a read that failed shows.
	url := fmt.Sprintf("scp://%s:%d/%s", j.target(), j.sshd.Port, path)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "vim", "-N", "-u", "NONE", "-i", "NONE", "-n", "-es",
		"-c", "runtime plugin/netrwPlugin.vim",
		"-c", "let g:netrw_scp_cmd = 'scp -F "+j.cfg+" -q'",
		"-c", "e "+url,
		"-c", "$put ='edited through gatehouse, read ' . (line('$')) . ' lines'",
		"-c", "w",
		"-c", "qa!")
	cmd.Dir = j.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("vim netrw: %v %s", err, out)
	}
	after := append(append([]byte{}, before...), "edited through gatehouse, read 2 lines\n"...)
	sameFile(t, path, after)
	waitAudit(t, j.b, "sftp.close", map[string]any{"account": "alice", "path": path, "sha256_read": fmt.Sprintf("%x", sha256Sum(before)), "host_to": "127.0.0.1"})
	waitAudit(t, j.b, "sftp.close", map[string]any{"account": "alice", "path": path, "sha256_written": fmt.Sprintf("%x", sha256Sum(after))})
	auditNames(t, j, "subsystem sftp")
}
