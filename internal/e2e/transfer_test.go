package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
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
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	dir := t.TempDir()
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
Host *
  BatchMode yes
  IdentityAgent none
  ConnectTimeout 10
`, b.Host, b.Port, aliceKey, kh)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return &jumpEnv{b: b, sshd: sshd, aliceKey: aliceKey, cfg: cfg, dir: dir}
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
