package ingress

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/running"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

// stuckChannel is the session channel of a client that stopped reading its socket: every write
// to the connection (the reason, the exit status, the close) waits in x/crypto's transport
// until stuck is closed.
type stuckChannel struct {
	noticeChannel
	stuck chan struct{}
}

func (c *stuckChannel) Stderr() io.ReadWriter { return stuckStderr{c} }

type stuckStderr struct{ c *stuckChannel }

func (stuckStderr) Read([]byte) (int, error) { return 0, io.EOF }
func (w stuckStderr) Write(p []byte) (int, error) {
	<-w.c.stuck
	return 0, io.ErrClosedPipe
}

func (c *stuckChannel) SendRequest(name string, wantReply bool, payload []byte) (bool, error) {
	<-c.stuck
	return c.noticeChannel.SendRequest(name, wantReply, payload)
}

func (c *stuckChannel) CloseWrite() error { <-c.stuck; return nil }

func (c *stuckChannel) Close() error { <-c.stuck; return c.noticeChannel.Close() }

// TestEndNotHeldByStuckConnection: a freeze ends every session of the account, and returns,
// even when one of them is on a connection whose client stopped reading its socket (every write
// to it blocks, not only the reason's): that one is cancelled, and the others are closed.
func TestEndNotHeldByStuckConnection(t *testing.T) {
	reg := running.New()
	clk := &clock.Fake{}
	s := New(clockEnv{clk: clk}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Running = reg
	acct := store.Account{ID: "acct-1", Name: "alice"}
	stuck := &stuckChannel{stuck: make(chan struct{})}
	defer close(stuck.stuck)
	stuckCtx, stuckCancel := context.WithCancel(context.Background())
	defer stuckCancel()
	stuckConn := &closeCount{}
	_, remove1 := s.register(&session.Session{Account: acct, ID: "sess-stuck"}, stuckConn, stuck, stuckCancel)
	defer remove1()
	other := &noticeChannel{}
	otherCtx, otherCancel := context.WithCancel(context.Background())
	defer otherCancel()
	_, remove2 := s.register(&session.Session{Account: acct, ID: "sess-other"}, &closeCount{}, other, otherCancel)
	defer remove2()

	ended := make(chan []string, 1)
	go func() { ended <- reg.End("acct-1", "Your account has been frozen", 42) }()
	deadline := time.After(20 * time.Second) // a failure's bound only: the clock is moved below
	for {
		select {
		case ids := <-ended:
			if len(ids) != 2 {
				t.Fatalf("ended %v", ids)
			}
			if stuckCtx.Err() == nil || otherCtx.Err() == nil {
				t.Fatal("a session of the frozen account was not cancelled")
			}
			// An account-wide end whose close could not go out cuts the client's connection.
			if n := stuckConn.n.Load(); n != 1 {
				t.Fatalf("the stuck session's connection was closed %d times, want 1 (cut)", n)
			}
			// Closed on the end's goroutine: the clock moved fast above may have let End go
			// before it was done.
			for wait := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
				if slices.Contains(other.events(), "close") {
					return
				}
				if time.Now().After(wait) {
					t.Fatalf("the other session's channel was not closed: %q", other.events())
				}
			}
		case <-deadline:
			t.Fatalf("the freeze is held by a connection that stopped reading; other session: %q, cancelled %v", other.events(), otherCtx.Err() != nil)
		default:
			clk.Advance(endNoticeBound)
			runtime.Gosched()
		}
	}
}

// TestEndSessionDoesNotCut: ending one session alone (the registry's EndSession: its recording
// failed, an idle kill) on a connection whose client stopped reading cancels it and returns
// within its bounds, but never cuts the client's connection: it may carry the account's other
// sessions (ControlMaster), which go on.
func TestEndSessionDoesNotCut(t *testing.T) {
	reg := running.New()
	clk := &clock.Fake{}
	s := New(clockEnv{clk: clk}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Running = reg
	acct := store.Account{ID: "acct-1", Name: "alice"}
	stuck := &stuckChannel{stuck: make(chan struct{})}
	defer close(stuck.stuck)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn := &closeCount{}
	_, remove := s.register(&session.Session{Account: acct, ID: "sess-stuck"}, conn, stuck, cancel)
	defer remove()

	ended := make(chan bool, 1)
	go func() { ended <- reg.EndSession("acct-1", "sess-stuck", "Idle kill timeout", 42) }()
	deadline := time.After(20 * time.Second) // a failure's bound only: the clock is moved below
	for {
		select {
		case ok := <-ended:
			if !ok {
				t.Fatal("the session was not found")
			}
			if ctx.Err() == nil {
				t.Fatal("the ended session was not cancelled")
			}
			if n := conn.n.Load(); n != 0 {
				t.Fatalf("ending one session cut the client's connection (%d closes)", n)
			}
			return
		case <-deadline:
			t.Fatal("EndSession is held by a connection that stopped reading")
		default:
			clk.Advance(endNoticeBound)
			runtime.Gosched()
		}
	}
}
