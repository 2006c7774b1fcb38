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

// TestIdleKillClientNotReading: a client that stopped reading (a raw x/crypto client that
// never reads its channel, so the bastion's window to it runs out while the target floods it
// with `yes`) cannot hold an idle kill back: the kill ends the target's command at once
// (was: the kill notice was written first, that write blocked on the full window, and the
// session, the target's command with it, went on for as long as the client did not read).
// Once the client goes, the relay's close is audited as an idle kill.
func TestIdleKillClientNotReading(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "idleKillTimeout = 600\nwarnBeforeKillSeconds = 60\n"})
	sshd, aliceKey := targetSetup(t, b)
	pidFile := filepath.Join(t.TempDir(), "pid")
	client, err := ssh.Dial("tcp", net.JoinHostPort(b.Host, b.Port), &ssh.ClientConfig{User: "alice", Auth: []ssh.AuthMethod{ssh.PublicKeys(keySigner(t, aliceKey))},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}) // the bastion's key is not what is tested
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ch, reqs, err := client.OpenChannel("session", nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { // requests only (exit-status); the channel's data is never read
		for r := range reqs {
			if r.WantReply {
				_ = r.Reply(false, nil)
			}
		}
		close(closed)
	}()
	line := fmt.Sprintf("%s@127.0.0.1 -p %d -- echo $$ > %s; exec yes", sshd.User, sshd.Port, pidFile)
	if ok, err := ch.SendRequest("exec", true, ssh.Marshal(struct{ Command string }{line})); err != nil || !ok {
		t.Fatalf("exec: %v %v", ok, err)
	}
	pid := 0
	for deadline := time.Now().Add(15 * time.Second); pid == 0; time.Sleep(20 * time.Millisecond) {
		if raw, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(raw), "\n") {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 4096)
			n, _ := ch.Stderr().Read(buf)
			m, _ := ch.Read(buf[n:])
			t.Fatalf("the target's command never started: %q", buf[:n+m])
		}
	}
	alive := func() bool { _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); return err == nil }
	// The window to the client runs out: `yes` is then blocked writing, its output unread
	// (what it wrote stops growing, past the 2 MiB window and the pipes' buffers).
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
	b.Clock.Advance(601 * time.Second)
	for deadline := time.Now().Add(15 * time.Second); alive(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the target's command (pid %d) still runs after the idle kill of a session whose client does not read", pid)
		}
	}
	_ = ch.Close()
	_ = client.Close()
	<-closed
	waitAudit(t, b, "connection.close", map[string]any{"account": "alice", "comment": "idle_kill"})
}
