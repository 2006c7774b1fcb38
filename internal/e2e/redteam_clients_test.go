package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/testenv"
)

// TestRedteamSftpToTheBastionItself: a careless user runs sftp, or scp (SFTP mode), against the
// bastion itself instead of a server behind it. The client said only "subsystem request failed
// on channel 0". Now it says why and what to use instead, fails, and nothing runs.
func TestRedteamSftpToTheBastionItself(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	key := b.CreateAccount("bob")
	opts := []string{"-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "IdentityAgent=none", "-o", "IdentitiesOnly=yes", "-i", key, "-P", b.Port}
	src := filepath.Join(t.TempDir(), "f.txt")
	if err := os.WriteFile(src, []byte("hi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{
		append(append([]string{"sftp", "-b", "/dev/null"}, opts...), "bob@"+b.Host),
		append(append([]string{"scp"}, opts...), src, "bob@"+b.Host+":/tmp/redteam-not-here"),
	} {
		out, err := exec.Command(c[0], c[1:]...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "the bastion has no sftp of its own") || !strings.Contains(string(out), "selfSshConfig") {
			t.Errorf("%s to the bastion itself: %v, %q", c[0], err, out)
		}
	}
	if _, err := os.Stat("/tmp/redteam-not-here"); err == nil {
		t.Error("scp wrote on the bastion")
	}
}
