package e2e

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/internal/testenv"
)

// TestPlainSessionEndClientNotReading: a client whose plain session (a relayed `yes` on a real
// sshd, flooding it) stops reading its socket, so that every write to it blocks (the freeze's
// reason, the exit status, the channel's close). Freezing its account (an account-wide end)
// returns within its bounds, the target's command ends, the session leaves the Running
// registry, and the client's connection is cut once its close could not be written: the
// bastion's socket closes without the client reading anything (was: the connection, its
// goroutines, the channel, and the session's registry entry too, its relay blocked writing to
// the client, stayed for as long as the client did not read), and the client finds it closed
// once it reads again.
func TestPlainSessionEndClientNotReading(t *testing.T) {
	b := testenv.Start(t, testenv.Options{WrapListener: func(ln net.Listener) net.Listener { return smallSendBuffers{ln} }})
	sshd, aliceKey := targetSetup(t, b)
	reg, ok := b.App.Server.Running.(interface{ Count() int })
	if !ok {
		t.Fatalf("the registry %T does not count", b.App.Server.Running)
	}

	client, dc, raw := dialDeaf(t, b, aliceKey)
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	sess.Stdout, sess.Stderr = io.Discard, io.Discard // the application reads it: only the socket stops
	pidFile := filepath.Join(t.TempDir(), "pid")
	if err := sess.Start(fmt.Sprintf("%s@127.0.0.1 -p %d -- echo $$ > %s; exec yes", sshd.User, sshd.Port, pidFile)); err != nil {
		t.Fatal(err)
	}
	pid := waitPid(t, pidFile)
	dc.deaf()
	blockedWriting(t)
	clientPort := raw.LocalAddr().(*net.TCPAddr).Port
	if st := tcpState(t, b.Port, clientPort); st != "01" {
		t.Fatalf("the client's connection is not established before the freeze (TCP state %q)", st)
	}

	froze := make(chan struct{})
	go func() {
		defer close(froze)
		if r := b.Admin("--osh", "accountFreeze", "--account", "alice", "--reason", "test"); r.Exit != 0 {
			t.Errorf("accountFreeze: %d %s", r.Exit, r.Stdout)
		}
	}()
	select {
	case <-froze:
	case <-time.After(15 * time.Second): // the end takes 2 s at most (two bounded notices)
		t.Fatal("accountFreeze still waits on a session whose client does not read")
	}
	gone(t, pid, "the freeze")
	for deadline := time.Now().Add(15 * time.Second); reg.Count() > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d entries still in the Running registry after the freeze", reg.Count())
		}
	}
	auditHas(t, b, "account.sessions_ended", `"account":"alice"`, "Your account has been frozen (test)")
	// The client's connection was cut while it still does not read: the bastion's socket is
	// closed (FIN_WAIT1 behind the unread bytes, or gone), not established.
	for deadline := time.Now().Add(15 * time.Second); tcpState(t, b.Port, clientPort) == "01"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the frozen account's connection is still established on the bastion: it was not cut")
		}
	}
	// Once it reads again, it finds its connection closed.
	dc.hear()
	waited := make(chan error, 1)
	go func() { waited <- client.Wait() }()
	select {
	case <-waited:
	case <-time.After(15 * time.Second):
		t.Fatal("the frozen account's connection is still open")
	}
}
