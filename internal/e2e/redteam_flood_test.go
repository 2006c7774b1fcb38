package e2e

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/testenv"
)

// TestRedteamRefusedForwardFloodIsBounded: an account with no grant at all sends tcpip-forward
// and cancel-tcpip-forward requests (ssh -R) as fast as its connection carries them, without
// waiting for the answers,
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
			typ := "tcpip-forward"
			if sent%2 == 1 {
				typ = "cancel-tcpip-forward" // refused too: nothing is forwarded
			}
			if _, _, err := c.SendRequest(typ, false, payload); err != nil {
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

// TestRedteamKeyGenerationBounded: selfGenerateEgressKey is an open command, and an RSA 8192
// key costs 15–40 s of CPU that nothing stops once started: ten per connection, disconnect,
// ten more, and the bastion's CPUs stayed busy for as long as the attacker liked. Now key
// generations run a few at a time (Env.KeyGen) and a request waits for its slot only while its
// client is there: here every slot is taken, the client gives up, and no key is made after.
func TestRedteamKeyGenerationBounded(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	bobKey := b.CreateAccount("bob")
	keys := func() int {
		ks, err := b.App.Store.ListEgressKeys(context.Background(), "account", "bob")
		if err != nil {
			t.Fatal(err)
		}
		return len(ks)
	}
	before := keys()
	slots := b.App.Env.KeyGen
	if cap(slots) == 0 {
		t.Fatal("no bound on key generation")
	}
	for range cap(slots) {
		slots <- struct{}{} // busy generating
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "ssh", append(b.SSHArgs(bobKey, "bob"), "--", "--osh", "selfGenerateEgressKey", "--algo", "ed25519")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return b.App.Server.ActiveSessions() == 1 })
	cancel() // bob gives up
	_ = cmd.Wait()
	waitFor(t, func() bool { return b.App.Server.ActiveSessions() == 0 })
	for range cap(slots) {
		<-slots
	}
	if n := keys(); n != before {
		t.Errorf("a key was generated for a client that had gone: %d keys, %d before", n, before)
	}
	if r := b.SSH(bobKey, "bob", "--json-greppable", "--osh", "selfGenerateEgressKey", "--algo", "ed25519"); r.Code() != "OK" || keys() != before+1 {
		t.Errorf("with free slots: exit %d %q, %d keys", r.Exit, r.Code(), keys())
	}
}
