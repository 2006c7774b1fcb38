package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/testenv"
)

// TestRsyncFileListAudited: the real `rsync -av` through the stanza (ProxyJump) and with the
// target in the user name, up then down, and again after one file changed (the incremental
// second run): each file of rsync's own list is an audit event rsync.file with its path and
// size, the list an rsync.list event, and the files arrive intact. A client that sends
// garbage instead of rsync's protocol: the list is audited as unreadable, nothing is written.
func TestRsyncFileListAudited(t *testing.T) {
	if _, err := exec.LookPath("rsync"); err != nil {
		testenv.Need(t, "rsync is not installed (scripts/test.sh installs it)")
	}
	j := startJump(t)
	for _, way := range []struct{ name, rsh, host string }{
		{"jump", fmt.Sprintf("ssh -F %s -p %d", j.cfg, j.sshd.Port), j.target()},
		{"user name", fmt.Sprintf("ssh -F %s -l %s", j.cfg, j.userTarget()), "bastion"},
	} {
		t.Run(way.name, func(t *testing.T) {
			src := filepath.Join(j.dir, strings.ReplaceAll(way.name, " ", "-"))
			if err := os.MkdirAll(filepath.Join(src, "sub dir"), 0o700); err != nil {
				t.Fatal(err)
			}
			a := randomFile(t, filepath.Join(src, "a.bin"), 200*1024+3)
			randomFile(t, filepath.Join(src, "sub dir", "b.bin"), 4321)
			dst := t.TempDir()
			run := func(from, to string) string {
				t.Helper()
				out, errs, code := j.run(t, "", "rsync", "-av", "-e", way.rsh, from, to)
				if code != 0 {
					t.Fatalf("rsync %s %s: exit %d %q %q", from, to, code, out, errs)
				}
				return out
			}
			run(src+"/", way.host+":"+dst+"/")
			sameFile(t, filepath.Join(dst, "a.bin"), a)
			for path, size := range map[string]int{"a.bin": 200*1024 + 3, "sub dir/b.bin": 4321} {
				waitAudit(t, j.b, "rsync.file", map[string]any{"account": "alice", "path": path, "size": size, "type": "file",
					"direction": "upload", "host_to": "127.0.0.1", "port_to": j.sshd.Port})
			}
			waitAudit(t, j.b, "rsync.file", map[string]any{"account": "alice", "path": "sub dir", "type": "dir"})
			waitAudit(t, j.b, "rsync.list", map[string]any{"account": "alice", "status": "ok", "files": 4, "direction": "upload"})

			// The incremental second run: only the changed file goes, the list is audited whole again.
			b2 := randomFile(t, filepath.Join(src, "sub dir", "b.bin"), 4322)
			if out := run(src+"/", way.host+":"+dst+"/"); !strings.Contains(out, "b.bin") || strings.Contains(out, "a.bin") {
				t.Fatalf("second rsync is not incremental: %q", out)
			}
			sameFile(t, filepath.Join(dst, "sub dir", "b.bin"), b2)
			waitAudit(t, j.b, "rsync.file", map[string]any{"account": "alice", "path": "sub dir/b.bin", "size": 4322})

			// Down: the target's list.
			back := t.TempDir()
			run(way.host+":"+dst+"/", back+"/")
			sameFile(t, filepath.Join(back, "a.bin"), a)
			waitAudit(t, j.b, "rsync.file", map[string]any{"account": "alice", "path": "sub dir/b.bin", "size": 4322, "direction": "download"})
			waitAudit(t, j.b, "rsync.list", map[string]any{"account": "alice", "status": "ok", "direction": "download"})
		})
	}

	// Garbage instead of rsync's protocol, on the plain path: rsync on the target refuses it,
	// the list is audited as unreadable, and nothing is written.
	bad := t.TempDir()
	r := j.b.SSHIn(strings.NewReader(strings.Repeat("garbage\x00\xff", 1000)), j.aliceKey, "alice", j.target(), "-p", fmt.Sprint(j.sshd.Port),
		"--", "rsync --server -vlogDtpre.iLsfxCIvu . "+bad+"/")
	if r.Exit == 0 {
		t.Errorf("garbage accepted: %q %q", r.Stdout, r.Stderr)
	}
	waitAudit(t, j.b, "rsync.list", map[string]any{"account": "alice", "status": "failed"})
	if entries, _ := os.ReadDir(bad); len(entries) != 0 {
		t.Errorf("garbage wrote %v", entries)
	}
}
