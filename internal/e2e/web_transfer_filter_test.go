package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/testenv"
)

// The Sessions page filters the sessions that carried a file transfer: an scp upload (legacy
// protocol), an sftp session and an rsync, each through the bastion with the real clients, beside
// a plain command, shown by the filter each under its own protocol.
func TestWebSessionsTransferFilter(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "[web]\nlisten = \"127.0.0.1:0\"\n"})
	sshd, aliceKey := targetSetup(t, b)
	for _, proto := range []string{"--scpup", "--sftp", "--rsync"} {
		if r := b.Admin("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(sshd.Port), proto); r.Exit != 0 {
			t.Fatalf("grant %s: %d %s %s", proto, r.Exit, r.Stdout, r.Stderr)
		}
	}
	dir := t.TempDir()
	j := &jumpEnv{b: b, sshd: sshd, aliceKey: aliceKey, cfg: writeJumpConfig(t, b, aliceKey, dir), dir: dir}
	port := fmt.Sprint(sshd.Port)
	remote := t.TempDir()
	up := filepath.Join(dir, "up.bin")
	randomFile(t, up, 4096)
	if out, errs, code := j.run(t, "", "scp", "-F", j.cfg, "-O", "-P", port, up, j.target()+":"+filepath.Join(remote, "scp.bin")); code != 0 {
		t.Fatalf("scp: %d %q %q", code, out, errs)
	}
	if out, errs, code := j.run(t, "put up.bin "+filepath.Join(remote, "sftp.bin")+"\n", "sftp", "-F", j.cfg, "-P", port, "-b", "-", j.target()); code != 0 {
		t.Fatalf("sftp: %d %q %q", code, out, errs)
	}
	if out, errs, code := j.run(t, "", "rsync", "-e", "ssh -F "+j.cfg+" -p "+port, up, j.target()+":"+filepath.Join(remote, "rsync.bin")); code != 0 {
		t.Fatalf("rsync: %d %q %q", code, out, errs)
	}
	if out, errs, code := j.run(t, "", "ssh", "-F", j.cfg, "-p", port, j.target(), "echo plain-command"); code != 0 {
		t.Fatalf("ssh: %d %q %q", code, out, errs)
	}
	closedSession(t, b, "alice", "scp -t")
	closedSession(t, b, "alice", "subsystem sftp")
	closedSession(t, b, "alice", "rsync --server")
	closedSession(t, b, "alice", "echo plain-command")

	url, _ := webLogin(t, b, aliceKey, "alice")
	br := browser(t)
	if s := status(t, br, url); s != 200 {
		t.Fatalf("login: %d", s)
	}
	base := strings.SplitN(url, "/login", 2)[0]
	rows := func(q string) string {
		if s := status(t, br, base+"/sessions"+q); s != 200 {
			t.Fatalf("sessions%s: %d", q, s)
		}
		return pageText(t, br, "#sessions tbody")
	}
	all := rows("")
	for _, w := range []string{"scp", "sftp", "rsync"} {
		if !strings.Contains(all, w) {
			t.Fatalf("the unfiltered list lacks the %s column value: %q", w, all)
		}
	}
	for _, c := range []struct {
		q      string
		has    []string
		hasNot []string
		nrows  int
	}{
		{"?transfer=scp", []string{"scp"}, []string{"sftp", "rsync"}, 1},
		{"?transfer=sftp", []string{"sftp"}, []string{"scp", "rsync"}, 1},
		{"?transfer=rsync", []string{"rsync"}, []string{"scp", "sftp"}, 1},
		{"?transfer=any", []string{"scp", "sftp", "rsync"}, nil, 3},
	} {
		got := rows(c.q)
		for _, w := range c.has {
			if !strings.Contains(got, w) {
				t.Errorf("%s lacks %s: %q", c.q, w, got)
			}
		}
		for _, w := range c.hasNot {
			if strings.Contains(got, w) {
				t.Errorf("%s shows %s: %q", c.q, w, got)
			}
		}
		if n := strings.Count(strings.TrimSpace(got), "\n") + 1; n != c.nrows {
			t.Errorf("%s: %d rows, want %d: %q", c.q, n, c.nrows, got)
		}
	}
	rows("?transfer=any")
	shoot(t, br, screenshots(t), "sessions-transfers")
	if s := status(t, br, base+"/sessions?transfer=ftp"); s != 400 {
		t.Fatalf("transfer=ftp: %d", s)
	}
}
