package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/sshtest"
	"gatehouse/internal/testenv"
)

// keySigner reads the private key file path (a test account's key) as a signer.
func keySigner(t *testing.T, path string) ssh.Signer {
	t.Helper()
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// nonReading starts, as alice, a relayed `yes` on the target for a raw x/crypto client that
// never reads its channel, and returns once the bastion's window to it ran out (`yes` is then
// blocked writing: what it wrote stops growing past the 2 MiB window and the pipes' buffers):
// the pid of the target's command, the client's channel, and a channel closed when the
// bastion closes that channel.
func nonReading(t *testing.T, b *testenv.Bastion, sshd *sshtest.SSHD, aliceKey string) (pid int, ch ssh.Channel, closed <-chan struct{}) {
	t.Helper()
	pidFile := filepath.Join(t.TempDir(), "pid")
	client, err := ssh.Dial("tcp", net.JoinHostPort(b.Host, b.Port), &ssh.ClientConfig{User: "alice", Auth: []ssh.AuthMethod{ssh.PublicKeys(keySigner(t, aliceKey))},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}) // the bastion's key is not what is tested
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	ch, reqs, err := client.OpenChannel("session", nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { // requests only (exit-status); the channel's data is never read
		for r := range reqs {
			if r.WantReply {
				_ = r.Reply(false, nil)
			}
		}
		close(done)
	}()
	line := fmt.Sprintf("%s@127.0.0.1 -p %d -- echo $$ > %s; exec yes", sshd.User, sshd.Port, pidFile)
	if ok, err := ch.SendRequest("exec", true, ssh.Marshal(struct{ Command string }{line})); err != nil || !ok {
		t.Fatalf("exec: %v %v", ok, err)
	}
	for deadline := time.Now().Add(15 * time.Second); pid == 0; time.Sleep(20 * time.Millisecond) {
		if raw, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(raw), "\n") {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
		}
		if time.Now().After(deadline) {
			t.Fatal("the target's command never started")
		}
	}
	written := func() int64 {
		raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
		for _, l := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(l, "wchar: "); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		return -1
	}
	for last, still, deadline := int64(-1), 0, time.Now().Add(20*time.Second); still < 5; time.Sleep(100 * time.Millisecond) {
		n := written()
		if n == last && n > 2<<20 {
			still++
		} else {
			still = 0
		}
		last = n
		if time.Now().After(deadline) {
			t.Fatalf("the target's output never stopped (wrote %d bytes): the client's window did not run out", n)
		}
	}
	return pid, ch, done
}

// gone waits until process pid (the target's command) has ended.
func gone(t *testing.T, pid int, what string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target's command (pid %d) still runs after %s of a session whose client does not read", pid, what)
		}
	}
}

// TestIdleKillClientNotReading: a client that stopped reading (a raw x/crypto client that
// never reads its channel, so the bastion's window to it runs out while the target floods it
// with `yes`) cannot hold an idle kill back: the kill ends the target's command at once
// (was: the kill notice was written first, that write blocked on the full window, and the
// session, the target's command with it, went on for as long as the client did not read).
// The relay's own output is blocked on that client too: the session is then ended from the
// registry, which closes the client's channel; the relay's close is audited as an idle kill.
func TestIdleKillClientNotReading(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "idleKillTimeout = 600\nwarnBeforeKillSeconds = 60\n"})
	sshd, aliceKey := targetSetup(t, b)
	pid, ch, closed := nonReading(t, b, sshd, aliceKey)
	b.Clock.Advance(601 * time.Second)
	gone(t, pid, "the idle kill")
	// The relay's output is blocked on the client too: the session is ended from the registry,
	// and the bastion closes the channel itself (the client still does not read).
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("the bastion never closed the idle-killed session's channel")
	}
	_ = ch.Close()
	waitAudit(t, b, "connection.close", map[string]any{"account": "alice", "comment": "idle_kill"})
}

// TestFreezeClientNotReading: freezing an account whose session's client stopped reading ends
// that session at once: accountFreeze returns, the target's command ends and the client's
// channel is closed by the bastion (was: the freeze's notice was written to the client first;
// the write blocked on the full window, and with it the freeze command and the session).
func TestFreezeClientNotReading(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	pid, _, closed := nonReading(t, b, sshd, aliceKey)
	froze := make(chan struct{})
	go func() {
		defer close(froze)
		if r := b.Admin("--osh", "accountFreeze", "--account", "alice", "--reason", "test"); r.Exit != 0 {
			t.Errorf("accountFreeze: %d %s", r.Exit, r.Stdout)
		}
	}()
	select {
	case <-froze:
	case <-time.After(15 * time.Second):
		t.Fatal("accountFreeze still waits on a session whose client does not read")
	}
	gone(t, pid, "the freeze")
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("the bastion never closed the frozen session's channel")
	}
}
