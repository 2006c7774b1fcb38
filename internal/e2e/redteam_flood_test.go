package e2e

import (
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/testenv"
)

// TestRedteamRefusedForwardFloodIsBounded: an account with no grant at all sends tcpip-forward
// requests (ssh -R) as fast as its connection carries them, without waiting for the answers,
// on the bastion itself and with a target in the user name. Each refusal was an audit entry:
// 50,000 in under a second, 20 MB of audit log, filling the disk the audit log needs (and a full
// audit log refuses every login). Now the connection is closed after maxRefusedForwards
// refusals, with one entry that says so; the account logs in again as before.
func TestRedteamRefusedForwardFloodIsBounded(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	bobKey := b.CreateAccount("bob")
	b.MustOK("--osh", "accountAddPersonalAccess", "--account", "bob", "--host", "127.0.0.2", "--port", "22", "--user", "root", "--force")
	payload := ssh.Marshal(struct {
		Addr string
		Port uint32
	}{"0.0.0.0", 4444})
	for _, user := range []string{"bob", "bob:root@127.0.0.2"} {
		before := len(auditLines(t, b, "forward.denied"))
		c, err := ssh.Dial("tcp", net.JoinHostPort(b.Host, b.Port), &ssh.ClientConfig{User: user,
			Auth: []ssh.AuthMethod{ssh.PublicKeys(keySigner(t, bobKey))}, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		sent := 0
		for ; sent < 2000; sent++ {
			if _, _, err := c.SendRequest("tcpip-forward", false, payload); err != nil {
				break // the bastion closed the connection
			}
		}
		closed := make(chan error, 1)
		go func() { closed <- c.Wait() }()
		select {
		case <-closed:
		case <-time.After(10 * time.Second):
			t.Errorf("%s: the connection is still open after %d refused forwards", user, sent)
		}
		_ = c.Close()
		lines := auditLines(t, b, "forward.denied")[before:]
		if len(lines) > maxRefused+1 || len(lines) == 0 || !strings.Contains(lines[len(lines)-1], "too many refused remote forwarding") {
			t.Errorf("%s: %d forward.denied entries for %d requests, the last: %q", user, len(lines), sent, lines[len(lines)-1:])
		}
	}
	if r := b.SSH(bobKey, "bob", "--json-greppable", "--osh", "info"); r.Code() != "OK" {
		t.Errorf("bob after the flood: exit %d %s", r.Exit, r.Stdout)
	}
}

// maxRefused is ingress's maxRefusedForwards, as the client sees it.
const maxRefused = 16
