package ingress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/clock"
	"gatehouse/internal/config"
	"gatehouse/internal/running"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

// noticeChannel is a session channel that logs, in order, what the user is sent: the reason
// (stderr), the exit status, the close. Like an SSH channel, a write under way when the channel
// is closed fails: what it carried is lost. block, when set, holds every stderr write until it
// is closed (a client whose window is full), and entered is closed when the first one waits.
type noticeChannel struct {
	ssh.Channel // nothing else is used
	mu          sync.Mutex
	log         []string
	closed      bool
	block       chan struct{}
	entered     chan struct{}
	enterOnce   sync.Once
	// deaf: a client that reads nothing; a stderr write waits until the channel is closed.
	deaf    bool
	closedC chan struct{}
}

func (c *noticeChannel) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, s)
}

func (c *noticeChannel) events() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.log...)
}

func (c *noticeChannel) Stderr() io.ReadWriter { return noticeStderr{c} }

func (c *noticeChannel) SendRequest(name string, _ bool, payload []byte) (bool, error) {
	var st struct{ Status uint32 }
	_ = ssh.Unmarshal(payload, &st)
	c.add(fmt.Sprintf("%s %d", name, st.Status))
	return false, nil
}

func (c *noticeChannel) CloseWrite() error { return nil }

func (c *noticeChannel) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.log = append(c.log, "close")
		if c.closedC != nil {
			close(c.closedC)
		}
	}
	return nil
}

type noticeStderr struct{ c *noticeChannel }

func (noticeStderr) Read([]byte) (int, error) { return 0, io.EOF }

func (w noticeStderr) Write(p []byte) (int, error) {
	if w.c.block != nil {
		w.c.enterOnce.Do(func() { close(w.c.entered) })
		<-w.c.block
	}
	if w.c.deaf {
		w.c.enterOnce.Do(func() { close(w.c.entered) })
		<-w.c.closedC
	}
	w.c.mu.Lock()
	defer w.c.mu.Unlock()
	if w.c.closed {
		w.c.log = append(w.c.log, "lost: "+string(p))
		return 0, errors.New("channel closed")
	}
	w.c.log = append(w.c.log, "stderr: "+string(p))
	return len(p), nil
}

// failingTrack is a session's recording that has failed (or not); onAsk runs when the session
// asks, which is once what ran is over (and when it registers).
type failingTrack struct {
	SessionTrack // nothing else is used
	failed       bool
	onAsk        func()
}

func (f *failingTrack) RecordingFailure() (string, int, bool) {
	if f.onAsk != nil {
		f.onAsk()
	}
	if !f.failed {
		return "", 0, false
	}
	return "This session cannot be recorded any more", 100, true
}

// TestEndedSessionToldBeforeClose: a session ended from the registry (a freeze, a recording
// that failed) while what runs ends by itself (its relay saw the failed stream) is told why
// before its channel closes, once, with the registry's exit status. Each case forces one order
// of the race: the registry's end blocked mid-write (a client whose window is full) when the
// session's own end comes; the registry's end coming after the session ended by itself; a
// recording that failed before the session was registered.
func TestEndedSessionToldBeforeClose(t *testing.T) {
	const freeze = "Your account has been frozen"
	const unrecordable = "This session cannot be recorded any more"
	for _, c := range []struct {
		name         string
		failed       bool // the recording failed
		registryEnd  string
		late         bool // the registry's end comes once the session ended by itself
		beforeRun    bool // the recording failed before the session was registered
		wantReason   string
		wantExit     int
		wantRanSteps bool
	}{
		{name: "freeze in flight", registryEnd: freeze, wantReason: freeze, wantExit: 42, wantRanSteps: true},
		{name: "unrecordable in flight", failed: true, registryEnd: unrecordable, wantReason: unrecordable, wantExit: 100, wantRanSteps: true},
		{name: "unrecordable, registry late", failed: true, registryEnd: unrecordable, late: true, wantReason: unrecordable, wantExit: 100, wantRanSteps: true},
		{name: "unrecordable, never reached by the registry", failed: true, wantReason: unrecordable, wantExit: 100, wantRanSteps: true},
		{name: "unrecordable before it ran", failed: true, beforeRun: true, wantReason: unrecordable, wantExit: 100},
		{name: "freeze late, the session ended by itself", registryEnd: freeze, late: true, wantExit: 7, wantRanSteps: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg := running.New()
			s := New(authEnv{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
			s.Running = reg
			ch := &noticeChannel{}
			exit := 100
			if c.registryEnd == freeze {
				exit = 42
			}
			tr := &failingTrack{failed: c.beforeRun}
			sess := &session.Session{Account: store.Account{ID: "acct-1", Name: "alice"}, ID: "sess-1"}
			b := &begun{sess: sess, track: tr}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ran := false
			next := func(ctx context.Context, b *begun) (session.Outcome, int) {
				ran = true
				tr.failed = c.failed
				if c.registryEnd != "" && !c.late {
					// The registry's end starts and blocks writing the reason; what runs
					// then ends by itself. The writer is let go only when the session asks
					// about its recording, i.e. once its own end is under way.
					ch.block, ch.entered = make(chan struct{}), make(chan struct{})
					release := ch.block
					tr.onAsk = func() { tr.onAsk = nil; close(release) }
					go reg.EndSession("acct-1", "sess-1", c.registryEnd, exit)
					<-ch.entered
				}
				return session.Outcome{}, 7
			}
			out, status := s.registered(nil, ch, cancel)(next)(ctx, b)
			if c.late && c.registryEnd != "" && reg.EndSession("acct-1", "sess-1", c.registryEnd, exit) {
				t.Error("a session that ended was still registered")
			}
			_ = ch.Close() // what the session's request loop does once run returns
			ev := ch.events()
			if ran != c.wantRanSteps {
				t.Errorf("what runs ran: %v, want %v", ran, c.wantRanSteps)
			}
			if status != c.wantExit || (c.wantReason != "" && out.Comment != c.wantReason) {
				t.Errorf("status %d comment %q, want %d %q", status, out.Comment, c.wantExit, c.wantReason)
			}
			var told, lost int
			for _, e := range ev {
				told += strings.Count(e, "stderr: ")
				lost += strings.Count(e, "lost: ")
			}
			if c.wantReason == "" {
				if told+lost != 0 || len(ev) != 1 {
					t.Fatalf("a session that ended by itself was sent %q", ev)
				}
				return
			}
			want := []string{"stderr: \r\n*** " + c.wantReason + ": this session is closed. ***\r\n", fmt.Sprintf("exit-status %d", c.wantExit), "close"}
			if len(ev) != len(want) || told != 1 || lost != 0 {
				t.Fatalf("the user was sent %q, want %q", ev, want)
			}
			for i := range want {
				if ev[i] != want[i] {
					t.Fatalf("the user was sent %q, want %q", ev, want)
				}
			}
		})
	}
}

type clockEnv struct {
	authEnv
	clk clock.Clock
}

func (e clockEnv) Deps() session.Deps {
	cfg := config.Default()
	return session.Deps{Config: func() *config.Config { return &cfg }, Clock: e.clk}
}

// TestEndNoticeToDeafClient: a client that reads nothing (its window full) cannot hold a session
// it was told to end: once endNoticeBound has passed (the injected clock moved), the session
// ends with the registry's exit status and its channel is closed (the reason's write then fails).
func TestEndNoticeToDeafClient(t *testing.T) {
	reg := running.New()
	clk := &clock.Fake{}
	s := New(clockEnv{clk: clk}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Running = reg
	ch := &noticeChannel{deaf: true, closedC: make(chan struct{}), entered: make(chan struct{})}
	sess := &session.Session{Account: store.Account{ID: "acct-1", Name: "alice"}, ID: "sess-1"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	next := func(ctx context.Context, b *begun) (session.Outcome, int) {
		go reg.EndSession("acct-1", "sess-1", "Your account has been frozen", 42)
		<-ch.entered // the reason is being written, to a client that reads nothing
		<-ctx.Done() // not before the bound: moved below, on the injected clock
		return session.Outcome{}, 7
	}
	go func() {
		<-ch.entered
		// The bound's timer is set right after the write starts; Advance until it fires.
		for {
			select {
			case <-ch.closedC:
				return
			default:
				clk.Advance(endNoticeBound)
				runtime.Gosched()
			}
		}
	}()
	out, status := s.registered(nil, ch, cancel)(next)(ctx, &begun{sess: sess})
	if status != 42 || out.Comment != "Your account has been frozen" {
		t.Fatalf("status %d comment %q, want 42 and the reason", status, out.Comment)
	}
	<-ch.closedC // the exit status and the close are written on the end's goroutine (bounded too)
	if ev := ch.events(); len(ev) < 2 || ev[0] != "exit-status 42" || ev[1] != "close" {
		t.Fatalf("the deaf client's session did not end: %q", ev)
	}
}
