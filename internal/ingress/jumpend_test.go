package ingress

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/clock"
	"gatehouse/internal/running"
)

// TestCutDecisionTable: a client's connection is cut after an end only when everything of the
// account ends (the account may do nothing any more) and its close has not gone out; every
// combination.
func TestCutDecisionTable(t *testing.T) {
	for _, accountWide := range []bool{true, false} {
		for _, closed := range []bool{true, false} {
			want := accountWide && !closed
			if got := cutDecision(accountWide, closed); got != want {
				t.Errorf("cutDecision(accountWide=%v, closed=%v) = %v, want %v", accountWide, closed, got, want)
			}
		}
	}
}

// innerConn is a jump's inner connection as its forwards see it: its Close is a message on the
// outer connection, which waits, while deaf, until release is closed (a client that stopped
// reading its socket).
type innerConn struct {
	ssh.Conn // nothing else is used
	deaf     bool
	release  chan struct{}
	closing  chan struct{} // closed when Close is called
	once     sync.Once
	closed   atomic.Bool // Close returned
}

func newInnerConn(deaf bool) *innerConn {
	return &innerConn{deaf: deaf, release: make(chan struct{}), closing: make(chan struct{})}
}

func (c *innerConn) Close() error {
	c.once.Do(func() { close(c.closing) })
	if c.deaf {
		<-c.release
	}
	c.closed.Store(true)
	return nil
}

// closeCount counts Close calls: a login to the target, the client's socket.
type closeCount struct {
	ssh.Conn // nothing else is used
	n        atomic.Int32
}

func (c *closeCount) Close() error { c.n.Add(1); return nil }

// within waits until cond holds; bound is a failure's bound only.
func within(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestRegistryEndNotHeldByDeafClient: a registry end (a freeze) of a jump's forwards (-L/-D, -R)
// and of the jump itself returns at once even when the jump's client stopped reading its socket,
// so that closing its inner connection blocks: the admin's freeze is not held. The forwards'
// relays end with the reason, the logins to the target close at once (a -R listener must not
// outlive the freeze while the client's close waits), the inner connection's close is made
// (the jump's after jumpEndGrace, its sessions' time to tell their users), and when it has not
// gone out within endNoticeBound the client's connection is cut; a close that went out cuts
// nothing. The clock is moved, never waited for.
func TestRegistryEndNotHeldByDeafClient(t *testing.T) {
	const reason = "Your account has been frozen (test) by admin"
	for _, kind := range []string{"local forwards", "remote forwards", "jump"} {
		for _, deaf := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/deaf=%v", kind, deaf), func(t *testing.T) {
				clk := &clock.Fake{}
				s := New(clockEnv{clk: clk}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
				reg := running.New()
				s.Running = reg
				client, cut, login := newInnerConn(deaf), &closeCount{}, &closeCount{}
				defer close(client.release)
				ctx, endAll := context.WithCancelCause(context.Background())
				defer endAll(nil)
				grace := time.Duration(0)
				switch kind {
				case "local forwards":
					l := &localForwards{s: s, ctx: ctx, endAll: endAll, client: client, conn: cut, egress: map[string]ssh.Conn{"k": login}}
					reg.Add("acct-1", "local-forward-1", l.registryEnd("alice"))
				case "remote forwards":
					r := &remoteForwards{s: s, ctx: ctx, endAll: endAll, client: client, conn: cut}
					reg.Add("acct-1", "remote-forward-1", r.registryEnd("alice", login))
				case "jump":
					remove := s.registerJump("acct-1", "alice", client, cut, func(why string) { endAll(&forwardEnded{reason: why}) }, make(chan struct{}))
					defer remove()
					grace = jumpEndGrace
				}
				ended := make(chan []string, 1)
				go func() { ended <- reg.End("acct-1", reason, 42) }()
				select {
				case ids := <-ended:
					if len(ids) != 1 {
						t.Fatalf("ended %v", ids)
					}
				case <-time.After(5 * time.Second): // a failure's bound only
					t.Fatal("the registry's end waits on the close of a client that does not read")
				}
				if got := endedReason(ctx); got != reason {
					t.Fatalf("the relays ended with %q, want %q", got, reason)
				}
				if kind != "jump" {
					within(t, "the login to the target to close", func() bool { return login.n.Load() == 1 })
				}
				if grace > 0 {
					select {
					case <-client.closing:
						t.Fatal("the jump's inner connection was closed before its sessions could say why")
					default:
					}
					clk.Advance(grace)
				}
				within(t, "the inner connection's close", func() bool {
					select {
					case <-client.closing:
						return true
					default:
						return false
					}
				})
				if deaf {
					if n := cut.n.Load(); n != 0 {
						t.Fatalf("the client's connection was cut before endNoticeBound (%d)", n)
					}
					clk.Advance(endNoticeBound)
					within(t, "the client's connection to be cut", func() bool { return cut.n.Load() == 1 })
					return
				}
				within(t, "the inner connection's close to go out", client.closed.Load)
				clk.Advance(endNoticeBound)
				if n := cut.n.Load(); n != 0 {
					t.Fatalf("the client's connection was cut although its close went out (%d)", n)
				}
			})
		}
	}
}

// hungTarget is a login to a target that stopped answering: a request waits for a reply that
// comes only once the connection is closed.
type hungTarget struct {
	ssh.Conn  // nothing else is used
	entered   chan struct{}
	closed    chan struct{}
	enterOnce sync.Once
	closeOnce sync.Once
}

func (h *hungTarget) SendRequest(string, bool, []byte) (bool, []byte, error) {
	h.enterOnce.Do(func() { close(h.entered) })
	<-h.closed
	return false, nil, io.EOF
}

func (h *hungTarget) Close() error { h.closeOnce.Do(func() { close(h.closed) }); return nil }

// TestRemoteForwardsCloseNotHeldByHungTarget: the end of a connection with -R forwards (its
// client gone) is not held by a request to a target that stopped answering (a
// cancel-tcpip-forward under way holds the forwards' lock until the reply): the login to the
// target is closed first, which ends that wait, and close returns.
func TestRemoteForwardsCloseNotHeldByHungTarget(t *testing.T) {
	s := New(clockEnv{clk: &clock.Fake{}}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, endAll := context.WithCancelCause(context.Background())
	r := &remoteForwards{s: s, ctx: ctx, endAll: endAll, binds: map[int]string{5432: "127.0.0.1"}, active: map[io.Closer]struct{}{}}
	hung := &hungTarget{entered: make(chan struct{}), closed: make(chan struct{})}
	r.setLogin(hung, "k")
	cancelled := make(chan bool, 1)
	go func() { cancelled <- r.cancel(ssh.Marshal(tcpipForward{Addr: "127.0.0.1", Port: 5432})) }()
	<-hung.entered // the cancel waits for the target's reply, holding r.mu
	closed := make(chan struct{})
	go func() { r.close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second): // a failure's bound only
		t.Fatal("the forwards' end waits on a target that does not answer")
	}
	if <-cancelled {
		t.Fatal("a cancel the target never answered was reported done")
	}
	if ctx.Err() == nil {
		t.Fatal("the forwards' relays were not ended")
	}
}

// serverConnPair is an authenticated SSH connection of alice (account id acct-1) on loopback:
// the server's side and the client's.
func serverConnPair(t *testing.T) (*ssh.ServerConn, *ssh.Client) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hk, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{NoClientAuth: true, NoClientAuthCallback: func(ssh.ConnMetadata) (*ssh.Permissions, error) {
		return &ssh.Permissions{Extensions: map[string]string{extAccount: "alice", extAccountID: "acct-1"}}, nil
	}}
	cfg.AddHostKey(hk)
	// Loopback TCP, not net.Pipe: both ends write their version line first, and a pipe holds
	// no byte that is not read.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	type server struct {
		conn *ssh.ServerConn
		err  error
	}
	served := make(chan server, 1)
	go func() {
		conn, chans, reqs, err := ssh.NewServerConn(a, cfg)
		if err == nil {
			go ssh.DiscardRequests(reqs)
			go func() {
				for nch := range chans {
					_ = nch.Reject(ssh.Prohibited, "no")
				}
			}()
		}
		served <- server{conn, err}
	}()
	cc, chans, reqs, err := ssh.NewClientConn(b, "pipe", &ssh.ClientConfig{User: "alice", HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	client := ssh.NewClient(cc, chans, reqs)
	sv := <-served
	if sv.err != nil {
		t.Fatal(sv.err)
	}
	t.Cleanup(func() { client.Close(); sv.conn.Close() })
	return sv.conn, client
}

// TestLiveForwardEndCutsDeafClient: a forwarded connection (ssh -L on the bastion, -L/-D and
// -R through a jump) ended from the registry ends its relay with the reason at once, and when
// the relay has not stopped once endNoticeBound has passed on the server's clock (its client
// stopped reading: its channel's close, its copy, wait on the socket), the client's connection
// is cut.
func TestLiveForwardEndCutsDeafClient(t *testing.T) {
	const reason = "Your account has been deleted by admin"
	clk := &clock.Fake{}
	s := New(clockEnv{clk: clk}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	reg := running.New()
	s.Running = reg
	outer, client := serverConnPair(t)
	rctx, stop := s.liveForward(context.Background(), outer, time.Time{}, func(context.Context) error { return nil })
	defer stop()
	if ids := reg.End("acct-1", reason, 42); len(ids) != 1 {
		t.Fatalf("ended %v", ids)
	}
	if got := endedReason(rctx); got != reason {
		t.Fatalf("the relay ended with %q, want %q", got, reason)
	}
	waited := make(chan error, 1)
	go func() { waited <- client.Wait() }()
	clk.Advance(endNoticeBound) // the relay (never stopped here) is still blocked on its client
	select {
	case <-waited:
	case <-time.After(5 * time.Second): // a failure's bound only
		t.Fatal("the connection of a forward that could not end was not cut")
	}
}
