package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/testenv"
)

// smallSendBuffers gives the bastion's side of each client connection a fixed, small send
// buffer. Loopback's autotuned buffers hold megabytes, more than the 2 MiB a channel's window
// lets through, so a client that stops reading would never fill them here; on a real network a
// client behind a slow link (or with several channels) fills them all the same.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(64 << 10) // a failure leaves the test's wait for a blocked write to say so
	}
	return c, err
}

// deafConn is a client's socket whose reads stop (deaf) until hear: x/crypto's read loop parks
// in Read, the kernel's buffers fill, and then every write the bastion makes to the connection
// blocks, a channel's close or a global request's reply as much as data.
type deafConn struct {
	net.Conn
	mu   sync.Mutex
	gate chan struct{}
}

func (c *deafConn) deaf() { c.mu.Lock(); c.gate = make(chan struct{}); c.mu.Unlock() }

func (c *deafConn) hear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gate != nil {
		close(c.gate)
		c.gate = nil
	}
}

func (c *deafConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	g := c.gate
	c.mu.Unlock()
	if g != nil {
		<-g
	}
	return c.Conn.Read(p)
}

// channelConn is an SSH channel as the net.Conn an inner SSH client runs on (ssh -J's
// ProxyJump channel).
type channelConn struct{ ssh.Channel }

func (channelConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (channelConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (channelConn) SetDeadline(time.Time) error      { return nil }
func (channelConn) SetReadDeadline(time.Time) error  { return nil }
func (channelConn) SetWriteDeadline(time.Time) error { return nil }

// holdingServer listens on loopback and hands over each connection it accepts after echoing
// its first line: the target's side of a forwarded connection.
func holdingServer(t *testing.T) (port int, accepted <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			line, err := bufio.NewReader(c).ReadString('\n')
			if err == nil {
				fmt.Fprintf(c, "echo:%s", line)
			}
			conns <- c
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, conns
}

// establishedTo counts the TCP connections established to port on loopback (/proc/net/tcp):
// the bastion's logins to the target's sshd.
func establishedTo(t *testing.T, port int) int {
	t.Helper()
	raw, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(":%04X", port)
	n := 0
	for _, l := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) > 3 && strings.HasSuffix(f[2], want) && f[3] == "01" { // rem_address, st ESTABLISHED
			n++
		}
	}
	return n
}

// blockedWriting waits until a goroutine of the bastion (in this process) is blocked writing a
// packet on a socket the kernel will take no more of.
func blockedWriting(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "ssh.(*handshakeTransport).writePacket") && strings.Contains(g, "poll.(*pollDesc).waitWrite") &&
				strings.Contains(g, "ingress.") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the bastion's writes to the client that stopped reading never blocked")
		}
	}
}

// TestJumpEndClientNotReading: a client that goes through gatehouse as a jump (ssh -J: a
// direct-tcpip channel carrying an inner SSH connection to a real sshd) and then stops reading
// its socket, so that every write to it blocks (a channel's close, the inner connection's
// close, a global request's reply). Freezing its account (a registry end) must not hang on it:
// accountFreeze returns within its bound and without waiting for the client's connection to be
// cut (was: the inner connection's close ran on the registry's End and held the freeze); the
// target side is closed (the forwarded connection sees EOF, the session's command ends, every
// login to the target closes, the -R port no longer listens: was, the -R login's close waited
// behind the client's); the client's connection is cut once its close could not be written,
// so nothing of the jump stays in the Running registry (was: the jump, its relays, its logins
// and its entries lived as long as the client did not read); and the audit says why. Table:
// -L and -R inside the jump (their registry entries close the inner connection), and an inner
// session alone (the jump's own entry does).
func TestJumpEndClientNotReading(t *testing.T) {
	for _, c := range []struct {
		name     string
		forwards bool // a -L and a -R inside the jump, the -L's target flooding the client
		session  bool // an inner session, `yes` flooding the client
	}{
		{"-L and -R", true, false},
		{"session only", false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := testenv.Start(t, testenv.Options{WrapListener: func(ln net.Listener) net.Listener { return smallSendBuffers{ln} }})
			sshd, aliceKey := targetSetup(t, b)
			reg, ok := b.App.Server.Running.(interface{ Count() int })
			if !ok {
				t.Fatalf("the registry %T does not count", b.App.Server.Running)
			}
			hold, accepted := holdingServer(t)
			rport := freePort(t)
			b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(hold), "--forward")
			b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", fmt.Sprint(rport), "--remote-forward")

			// The outer connection: alice, on a socket that will stop being read.
			outer, dc, raw := dialDeaf(t, b, aliceKey)
			// ssh -J: a direct-tcpip channel to the target, an SSH client inside it.
			jch, jreqs, err := outer.OpenChannel("direct-tcpip", ssh.Marshal(struct {
				Host     string
				Port     uint32
				OrigIP   string
				OrigPort uint32
			}{"127.0.0.1", uint32(sshd.Port), "127.0.0.1", 0}))
			if err != nil {
				t.Fatal(err)
			}
			go ssh.DiscardRequests(jreqs)
			icc, ichans, ireqs, err := ssh.NewClientConn(channelConn{jch}, net.JoinHostPort("127.0.0.1", strconv.Itoa(sshd.Port)),
				&ssh.ClientConfig{User: sshd.User, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}) // the jump's certificate is not what is tested
			if err != nil {
				t.Fatal(err)
			}
			inner := ssh.NewClient(icc, ichans, ireqs)

			var target net.Conn
			if c.forwards {
				// -L inside the jump: the target connects to the holding server.
				fc, err := inner.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", hold))
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintln(fc, "open")
				line, err := bufio.NewReader(fc).ReadString('\n')
				if err != nil || line != "echo:open\n" {
					t.Fatalf("the forward answered %q %v", line, err)
				}
				go func() { _, _ = io.Copy(io.Discard, fc) }() // the application reads it: only the socket stops
				select {
				case target = <-accepted:
				case <-time.After(10 * time.Second):
					t.Fatal("the forwarded connection never reached its target")
				}
				go func() { // fills the client's socket once it stops reading; fails once closed
					flood := make([]byte, 1<<20)
					for i := 0; i < 64; i++ {
						if _, err := target.Write(flood); err != nil {
							return
						}
					}
				}()
				// -R inside the jump: the target listens.
				if _, err := inner.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", rport)); err != nil {
					t.Fatal(err)
				}
			}
			pid := 0
			if c.session {
				pid = floodingSession(t, inner)
			}
			logins := establishedTo(t, sshd.Port)
			if want := map[bool]int{true: 2, false: 1}[c.forwards]; logins != want {
				t.Fatalf("%d logins to the target before the freeze, want %d", logins, want)
			}
			dc.deaf()
			blockedWriting(t)

			froze := make(chan struct{})
			go func() {
				defer close(froze)
				if r := b.Admin("--osh", "accountFreeze", "--account", "alice", "--reason", "test"); r.Exit != 0 {
					t.Errorf("accountFreeze: %d %s", r.Exit, r.Stdout)
				}
			}()
			select {
			case <-froze:
			case <-time.After(15 * time.Second): // the ends take 2 s at most (two bounded notices)
				t.Fatal("accountFreeze still waits on a jump whose client does not read")
			}
			// Whether the cut came before the freeze returned is only logged: the cut is due 3 s
			// after the end started (jumpEndGrace + endNoticeBound), and a loaded CI machine can
			// take that long for the admin command itself. That the end does not wait on the
			// client is asserted on the server's fake clock by TestRegistryEndNotHeldByDeafClient.
			if st := tcpState(t, b.Port, raw.LocalAddr().(*net.TCPAddr).Port); st != "01" {
				t.Logf("the client's connection was already cut (TCP state %s) when accountFreeze returned", st)
			}
			if target != nil {
				_ = target.SetReadDeadline(time.Now().Add(15 * time.Second))
				if n, err := target.Read(make([]byte, 64)); n > 0 || isTimeout(err) {
					t.Fatalf("the forward's target side is still open after the freeze: %d, %v", n, err)
				}
			}
			if c.session {
				gone(t, pid, "the freeze")
			}
			for deadline := time.Now().Add(15 * time.Second); establishedTo(t, sshd.Port) > 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d logins to the target still open after the freeze", establishedTo(t, sshd.Port))
				}
			}
			if c.forwards {
				listening(t, rport, false)
			}
			for deadline := time.Now().Add(15 * time.Second); reg.Count() > 0; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d entries still in the Running registry after the freeze", reg.Count())
				}
			}
			ids := "jump-"
			if c.forwards {
				ids = "local-forward-"
			}
			auditHas(t, b, "account.sessions_ended", `"account":"alice"`, "Your account has been frozen (test)", ids)
			if c.forwards {
				auditHas(t, b, "forward.close", `"comment":"ended: Your account has been frozen (test)`, fmt.Sprintf(`"port_to":%d`, hold))
			}
			// The client's connection was cut: once it reads again, it finds it closed.
			dc.hear()
			waited := make(chan error, 1)
			go func() { waited <- outer.Wait() }()
			select {
			case <-waited:
			case <-time.After(15 * time.Second):
				t.Fatal("the frozen account's connection is still open")
			}
		})
	}
}

// floodingSession starts `yes` on the target in an inner session, and returns its pid.
func floodingSession(t *testing.T, inner *ssh.Client) int {
	t.Helper()
	pidFile := filepath.Join(t.TempDir(), "pid")
	sess, err := inner.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start(fmt.Sprintf("echo $$ > %s; exec yes", pidFile)); err != nil {
		t.Fatal(err)
	}
	return waitPid(t, pidFile)
}

// waitPid waits for the pid a target's command wrote to pidFile (`echo $$ > pidFile`).
func waitPid(t *testing.T, pidFile string) int {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if raw, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(raw), "\n") {
			pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatal("the target's command never started")
		}
	}
}

// dialDeaf logs alice in (aliceKey) over a socket the test can stop reading (deafConn, with a
// small receive buffer, the client's own choice); the cleanup lets everything unwind.
func dialDeaf(t *testing.T, b *testenv.Bastion, aliceKey string) (*ssh.Client, *deafConn, net.Conn) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", b.Addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.(*net.TCPConn).SetReadBuffer(16 << 10)
	dc := &deafConn{Conn: raw}
	t.Cleanup(func() { dc.hear(); raw.Close() }) // whatever failed, let it all unwind
	cc, chans, reqs, err := ssh.NewClientConn(dc, b.Addr, &ssh.ClientConfig{User: "alice",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(keySigner(t, aliceKey))},
		HostKeyCallback: ssh.InsecureIgnoreHostKey()}) // the bastion's key is not what is tested
	if err != nil {
		t.Fatal(err)
	}
	return ssh.NewClient(cc, chans, reqs), dc, raw
}

// tcpState is the state (/proc/net/tcp's hex: 01 established, 04 FIN_WAIT1) of the loopback
// connection from local port to remote port, "" when there is none.
func tcpState(t *testing.T, local string, remote int) string {
	t.Helper()
	raw, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	lp, _ := strconv.Atoi(local)
	for _, l := range strings.Split(string(raw), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) > 3 && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", lp)) && strings.HasSuffix(f[2], fmt.Sprintf(":%04X", remote)) {
			return f[3]
		}
	}
	return ""
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
