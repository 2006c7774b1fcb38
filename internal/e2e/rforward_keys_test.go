package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRemoteForwardOtherKeysNewConnection: a connection's -R forwards ride one egress login to
// the target, made with the keys of its first request's decision. A later -R on the same
// connection (ssh -O forward through a ControlMaster) granted through OTHER keys (a group's,
// where the first came with the account's personal key) is refused, audited with the reason,
// and nothing listens: it would otherwise reach the target under a key that did not grant it
// (the target's per-key restrictions would apply to the wrong key). The same -R asked on a
// new connection logs in with the group's key and works; the first forward is unharmed.
func TestRemoteForwardOtherKeysNewConnection(t *testing.T) {
	j := startJump(t)
	echo := echoServer(t)
	sshPort := fmt.Sprint(j.sshd.Port)
	personal, byGroup := freePort(t), freePort(t)
	// -R on personal: the personal SSH access (startJump's) and a personal --remote-forward.
	j.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(personal), "--remote-forward")
	// -R on byGroup: a group's SSH access and --remote-forward, with the group's own key.
	j.b.MustOK("--osh", "groupCreate", "--group", "rfwd", "--owner", "admin", "--algo", "ed25519")
	j.b.MustOK("--osh", "groupAddMember", "--group", "rfwd", "--account", "alice")
	j.b.MustOK("--osh", "groupAddServer", "--group", "rfwd", "--host", "127.0.0.1", "--port", sshPort, "--user", j.sshd.User, "--force")
	j.b.MustOK("--osh", "groupAddServer", "--group", "rfwd", "--host", "127.0.0.1", "--port", fmt.Sprint(byGroup), "--remote-forward")
	keys, err := j.b.App.Store.ListEgressKeys(context.Background(), "group", "rfwd")
	if err != nil || len(keys) != 1 {
		t.Fatalf("the group's egress keys: %v %v", keys, err)
	}
	j.sshd.Authorize(t, keys[0].Public)

	sock := filepath.Join(t.TempDir(), "cm")
	remoteForwardCmd(t, j, "-M", "-S", sock, "-p", sshPort, "-R", fmt.Sprintf("%d:127.0.0.1:%d", personal, echo), j.target())
	listening(t, personal, true)
	logins := accepted(j)

	out, err := exec.Command("ssh", "-F", j.cfg, "-S", sock, "-O", "forward", "-R", fmt.Sprintf("%d:127.0.0.1:%d", byGroup, echo), "-p", sshPort, j.target()).CombinedOutput()
	if err == nil {
		t.Fatalf("a -R granted through other keys rode the connection's first login: %s", out)
	}
	waitAudit(t, j.b, "forward.denied", map[string]any{"account": "alice", "port_to": fmt.Sprint(byGroup), "direction": "remote",
		"comment": "granted through other keys than this connection's first remote forward: ask for it on a new connection"})
	listening(t, byGroup, false)
	if n := accepted(j); n != logins {
		t.Fatalf("%d logins to the target for a refused -R", n-logins)
	}
	if got := talk(t, personal, "first"); got != "echo:first" {
		t.Fatalf("the first forward after the refusal: %q", got)
	}

	// On a new connection: its first request, its own login, with the group's key.
	_, errb := remoteForwardCmd(t, j, "-p", sshPort, "-R", fmt.Sprintf("%d:127.0.0.1:%d", byGroup, echo), j.target())
	listening(t, byGroup, true)
	if got := talk(t, byGroup, "group"); got != "echo:group" {
		t.Fatalf("the -R by the group on a new connection: %q (ssh: %q)", got, errb.String())
	}
	if log := j.sshd.Log(); !strings.Contains(log, keys[0].Fingerprint) {
		t.Fatalf("the target never saw the group's key %s:\n%s", keys[0].Fingerprint, log)
	}
}
