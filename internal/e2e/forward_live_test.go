package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// holdOpen opens a forwarded connection through dial, checks that it echoes, and returns it
// open.
func holdOpen(t *testing.T, what string, dial func() (net.Conn, error)) net.Conn {
	t.Helper()
	c, err := dial()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintln(c, "open")
	buf := make([]byte, len("echo:open\n"))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "echo:open\n" {
		t.Fatalf("%s: the open forward answered %v %q", what, err, buf)
	}
	return c
}

// socks5 opens a connection to 127.0.0.1:port through the SOCKS server (ssh -D) on dport.
func socks5(dport, port int) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", dport), 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	reply := make([]byte, 10)
	if _, err := c.Write([]byte{5, 1, 0}); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(c, reply[:2]); err != nil || reply[1] != 0 {
		return nil, fmt.Errorf("socks greeting: %v %v", err, reply[:2])
	}
	if _, err := c.Write([]byte{5, 1, 0, 1, 127, 0, 0, 1, byte(port >> 8), byte(port)}); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(c, reply); err != nil || reply[1] != 0 {
		return nil, fmt.Errorf("socks connect: %v %v", err, reply)
	}
	return c, nil
}

// ended waits until the open forwarded connection c is closed (its read ends); a read that
// times out means it still carries bytes.
func ended(t *testing.T, what string, c net.Conn) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	var ne net.Error
	if n > 0 || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("%s: the forwarded connection opened before the revoke still runs (%d bytes, %v)", what, n, err)
	}
}

// TestOpenForwardsEndOnRevoke: forwarded connections ALREADY OPEN (ssh -L on the bastion, and
// -L, -D and -R inside a ProxyJump inner connection: the real ssh, the real sshd) end when
// their account loses the right to them, as sessions do: a grant revoked, the key the
// connection logged in with removed, an MFA requirement the connection did not answer (at
// the next re-check, the bastion's clock moved past it), a freeze or a deletion (at once).
// Each is audited forward.close with its bytes and the reason (was: they went on; only new
// ones were refused).
func TestOpenForwardsEndOnRevoke(t *testing.T) {
	mfa := "MFAMode = \"jit\"\nperSourcePenalties = false\n"
	for _, c := range []struct {
		name    string
		config  string
		revoke  func(t *testing.T, j *jumpEnv, echo, rport int)
		recheck bool   // ended by the re-check (the clock moved), not a control
		reason  string // in the forward.close comment
	}{
		{"grant revoked", "", func(t *testing.T, j *jumpEnv, echo, rport int) {
			j.b.MustOK("--osh", "accountDelPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(echo), "--forward")
			j.b.MustOK("--osh", "accountDelPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(rport), "--remote-forward")
		}, true, "ended: "},
		{"key removed", "", func(t *testing.T, j *jumpEnv, _, _ int) {
			fp := ssh.FingerprintSHA256(keySigner(t, j.aliceKey).PublicKey())
			if err := j.b.App.Store.DeleteIngressKey(context.Background(), "alice", fp); err != nil {
				t.Fatal(err)
			}
		}, true, "ended: the key this connection logged in with was removed"},
		{"MFA required since", mfa, func(t *testing.T, j *jumpEnv, _, _ int) {
			j.b.MustOK("--osh", "accountModify", "--account", "alice", "--mfa-totp-required", "yes")
		}, true, "ended: "},
		{"TTL passed", "", func(t *testing.T, j *jumpEnv, _, _ int) {
			j.b.Clock.Advance(time.Hour + time.Second) // the account's TTL (set below, an hour ahead)
		}, false, "ended: "},
		{"frozen", "", func(t *testing.T, j *jumpEnv, _, _ int) {
			j.b.MustOK("--osh", "accountFreeze", "--account", "alice", "--reason", "test")
		}, false, "ended: Your account has been frozen"},
		{"deleted", "", func(t *testing.T, j *jumpEnv, _, _ int) {
			j.b.MustOK("--osh", "accountDelete", "--account", "alice", "--no-confirm")
		}, false, "ended: Your account has been deleted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			j := startJumpWith(t, testenv.Options{Config: c.config})
			if c.config != "" {
				enrolTOTP(t, j.b, "alice")
			}
			if c.name == "TTL passed" {
				if err := j.b.App.Store.UpdateAccount(context.Background(), "alice", func(a *store.Account) error {
					a.ExpiresAt = j.b.Clock.Now().Add(time.Hour)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			echo := echoServer(t)
			rport, lport, dport := freePort(t), freePort(t), freePort(t)
			j.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(echo), "--forward")
			j.b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(rport), "--remote-forward")
			outerL := localForward(t, j, echo)
			jumpForwardCmd(t, j, []int{lport, dport}, "-p", fmt.Sprint(j.sshd.Port), "-L", fmt.Sprintf("%d:127.0.0.1:%d", lport, echo),
				"-D", fmt.Sprint(dport), "-R", fmt.Sprintf("%d:127.0.0.1:%d", rport, echo), j.target())
			listening(t, rport, true)
			tcp := func(port int) func() (net.Conn, error) {
				return func() (net.Conn, error) {
					return net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
				}
			}
			open := []struct {
				what string
				c    net.Conn
			}{
				{"ssh -L on the bastion", holdOpen(t, "ssh -L on the bastion", tcp(outerL))},
				{"ssh -L inside the jump", holdOpen(t, "ssh -L inside the jump", tcp(lport))},
				{"ssh -D inside the jump", holdOpen(t, "ssh -D inside the jump", func() (net.Conn, error) { return socks5(dport, echo) })},
				{"ssh -R", holdOpen(t, "ssh -R", tcp(rport))},
			}
			// "open\n" one way, "echo:open\n" the other (-R's client is the side that echoes).
			bytes := map[string]bool{"5/10": true, "10/5": true}
			closes := func() int {
				n := 0
				for _, e := range auditEntries(t, j.b, "forward.close") {
					f, _ := e["fields"].(map[string]any)
					if comment, _ := f["comment"].(string); strings.HasPrefix(comment, c.reason) && bytes[fmt.Sprint(f["bytes_in"], "/", f["bytes_out"])] {
						n++
					}
				}
				return n
			}
			c.revoke(t, j, echo, rport)
			if c.recheck {
				// Not before the re-check: nothing announces the change; the bastion's clock then
				// passes the re-check's instant.
				j.b.Clock.Advance(11 * time.Second)
			}
			for _, o := range open {
				ended(t, o.what, o.c)
			}
			for deadline := time.Now().Add(10 * time.Second); closes() < len(open); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d forwards audited as ended with their bytes and %q: %v", closes(), len(open), c.reason, auditEntries(t, j.b, "forward.close"))
				}
			}
		})
	}
}
