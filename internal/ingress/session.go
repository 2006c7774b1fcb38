package ingress

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/clock"
	"gatehouse/internal/crash"
	"gatehouse/internal/refusal"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
	"gatehouse/internal/termsize"
)

// ptyRequest is RFC 4254 6.2's pty-req payload.
type ptyRequest struct {
	Term                    string
	Cols, Rows, Width, High uint32
	Modes                   string
}

// windowChange is RFC 4254 6.7's payload.
type windowChange struct {
	Cols, Rows, Width, High uint32
}

// noSubsystemHere is what a client that asks the bastion itself for a subsystem (sftp, scp in
// its SFTP mode) is told.
const noSubsystemHere = "gatehouse: the bastion has no sftp of its own: reach a server through it with ProxyJump (see --osh selfSshConfig), or with the wrapper of --osh sftp / --osh scp\r\n"

// maxEnvVars bounds what a client may set with env requests.
const maxEnvVars = 32

// handleSession serves a session channel of chans. Its request loop runs on this goroutine until
// a relay takes it over (Lend): this goroutine then ends and returns true, and the loop starts
// again on a fresh one of chans when the relay gives it back (Return).
func (s *Server) handleSession(ctx context.Context, conn *ssh.ServerConn, nch ssh.NewChannel, chans *channels) (lent bool) {
	h := s.acceptSession(ctx, conn, nch)
	if h == nil {
		return false
	}
	h.chans = chans
	return h.serve()
}

// serve runs the request loop; the channel is closed when the loop is over, not when it is lent.
func (h *sessionRequests) serve() (lent bool) {
	defer func() {
		if !lent {
			h.close()
		}
	}()
	return h.loop()
}

// acceptSession accepts a session channel; nil when it cannot be.
func (s *Server) acceptSession(ctx context.Context, conn *ssh.ServerConn, nch ssh.NewChannel) *sessionRequests {
	ch, reqs, err := nch.Accept()
	if err != nil {
		return nil
	}
	s.stats.Sessions.Add(1)
	s.sessions.Add(1)
	sctx, cancel := context.WithCancel(ctx)
	return &sessionRequests{s: s, sctx: sctx, cancel: cancel, conn: conn, ch: ch, reqs: reqs, env: map[string]string{},
		resize: make(chan termsize.Size, 4), signals: make(chan string, 4), done: make(chan int, 1), lend: make(chan struct{})}
}

func (h *sessionRequests) close() {
	h.cancel()
	h.s.sessions.Add(-1)
	_ = h.ch.Close() // the channel may already be closed by the client
}

// loop answers the channel's requests until what runs is over or the client closes the channel
// (false), or until a relay takes them over (true: Lend). This goroutine waits here while the
// session is not relayed (a menu, a command of the bastion's own), so the frames below it are
// kept small (each request is handled in handle, whose frame is gone while it waits): it then
// keeps a 4 KiB stack, not 8 (TestSessionLoopStackIsSmall).
func (h *sessionRequests) loop() (lent bool) {
	for {
		select {
		case status := <-h.done:
			h.exit(status)
			return false
		case <-h.lend:
			return true
		case req, ok := <-h.reqs:
			if !ok {
				// The client closed the channel: stop what runs and wait for it to notice.
				h.cancel()
				if h.started {
					<-h.done
				}
				return false
			}
			h.handle(req)
		}
	}
}

// Lend stops the loop, whose goroutine ends, and gives its requests to the caller (a relay, on
// the session's goroutine), which answers each with Handle, calls Closed when they end, and
// gives them back with Return before it waits for anything x/crypto must deliver (a full
// queue of requests stalls the connection). An idle relayed session then holds no goroutine of
// its own for its requests (TestRelayedSessionLendsItsRequestLoop). False when the loop is
// ending (the client closed the channel, or the session was ended): nothing is lent.
func (h *sessionRequests) Lend() (<-chan *ssh.Request, bool) {
	if h.chans == nil || h.sctx.Err() != nil {
		return nil, false
	}
	select {
	case h.lend <- struct{}{}:
		return h.reqs, true
	case <-h.sctx.Done():
		return nil, false
	}
}

// Handle answers one request while the loop is lent.
func (h *sessionRequests) Handle(req *ssh.Request) { h.handle(req) }

// Closed is the end of the requests while the loop is lent (the client closed the channel):
// what runs is stopped, as the loop does.
func (h *sessionRequests) Closed() { h.cancel() }

// Return starts the loop again, on a fresh goroutine of the channel's, after a Lend.
func (h *sessionRequests) Return() { h.chans.resume(h.serve) }

// sessionRequests is the state of one session channel's requests (RFC 4254 6), as
// handleSession's loop answers them.
type sessionRequests struct {
	s       *Server
	sctx    context.Context
	cancel  context.CancelFunc
	conn    *ssh.ServerConn
	ch      ssh.Channel
	reqs    <-chan *ssh.Request
	track   SessionTrack
	pty     *ptyRequest
	env     map[string]string
	started bool
	resize  chan termsize.Size
	signals chan string
	done    chan int      // the exit status, once what runs is over
	lend    chan struct{} // Lend: the loop's goroutine ends, a relay answers the requests
	chans   *channels     // where Return starts the loop again
}

// exit sends the exit status and EOF.
func (h *sessionRequests) exit(status int) {
	_, _ = h.ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(status)}))
	_ = h.ch.CloseWrite()
}

// handle answers one request of the session channel.
func (h *sessionRequests) handle(req *ssh.Request) {
	s, ch := h.s, h.ch
	switch req.Type {
	case "pty-req":
		var p ptyRequest
		if h.started || ssh.Unmarshal(req.Payload, &p) != nil || len(p.Term) > 64 {
			_ = req.Reply(false, nil)
			return
		}
		h.pty = &p
		_ = req.Reply(true, nil)
	case "env":
		var kv struct{ Name, Value string }
		ok := ssh.Unmarshal(req.Payload, &kv) == nil && len(h.env) < maxEnvVars && len(kv.Value) < 1024 &&
			(kv.Name == "LANG" || strings.HasPrefix(kv.Name, "LC_"))
		if ok {
			h.env[kv.Name] = kv.Value
		}
		_ = req.Reply(ok, nil)
	case "window-change":
		var w windowChange
		if ssh.Unmarshal(req.Payload, &w) == nil {
			if h.track != nil {
				h.track.Resize(int(w.Cols), int(w.Rows))
			}
			select {
			case h.resize <- termsize.Size{Cols: w.Cols, Rows: w.Rows, Width: w.Width, Height: w.High}:
			default: // a slow consumer loses intermediate sizes, never the connection
			}
		}
	case "signal":
		var sig struct{ Signal string }
		if h.started && ssh.Unmarshal(req.Payload, &sig) == nil && len(sig.Signal) < 16 {
			select {
			case h.signals <- sig.Signal:
			default:
			}
		}
	case "shell", "exec", "subsystem":
		if h.started {
			_ = req.Reply(false, nil)
			return
		}
		line := ""
		if req.Type == "subsystem" {
			// `ssh -s bastion -- --host H --osh scp --scp-cmd sftp`: what a recent scp
			// runs through The Bastion's wrappers (-S). Only a line that stands for the
			// sftp subsystem of a target is served; any other subsystem is refused.
			var sub struct{ Name string }
			if ssh.Unmarshal(req.Payload, &sub) != nil || s.env.Parse(sub.Name).Request.Subsystem != "sftp" {
				// `sftp bastion` (or scp's SFTP mode) to the bastion itself. Refused, the client
				// said only "subsystem request failed" (and left before printing anything on the
				// channel's stderr): accepted, it is told why, and it ends with a failure.
				h.started = true
				_ = req.Reply(true, nil)
				_, _ = io.WriteString(ch.Stderr(), noSubsystemHere)
				h.done <- refusal.ExitPluginFailed
				return
			}
			line = sub.Name
		}
		if req.Type == "exec" {
			var cmd struct{ Command string }
			if ssh.Unmarshal(req.Payload, &cmd) != nil {
				_ = req.Reply(false, nil)
				return
			}
			line = cmd.Command
		}
		h.started = true
		_ = req.Reply(true, nil)
		t, status := s.begin(h.sctx, h.conn, ch, h.pty, h.resize, h.signals, line)
		if t == nil {
			h.done <- status
			return
		}
		h.track = t.track
		t.sess.Requests = h // a relay takes the loop over while it waits
		s.conns.Add(1)      // the server's shutdown waits for the recording to be closed
		sctx, conn, cancel, done := h.sctx, h.conn, h.cancel, h.done
		go func() {
			defer s.conns.Done()
			s.run(sctx, conn, ch, cancel, t, done)
		}()
	default:
		// x11, agent forwarding, signals before start: refused.
		_ = req.Reply(false, nil)
	}
}

// newSession builds the session for one channel; on failure it returns nil and the status.
func (s *Server) newSession(ctx context.Context, conn *ssh.ServerConn, ch ssh.Channel, pty *ptyRequest, resize chan termsize.Size, signals chan string) (*session.Session, int) {
	a, err := s.env.Deps().Store.GetAccount(ctx, accountOf(conn))
	if err == nil && a.ID != conn.Permissions.Extensions[extAccountID] {
		err = store.ErrNotFound // deleted and recreated under the same name: another account
	}
	if err != nil {
		// Deleted since login: refuse.
		_, _ = io.WriteString(ch.Stderr(), "Your account no longer exists on this bastion.\r\n")
		return nil, refusal.ExitInactive
	}
	sess := &session.Session{
		Identity: session.Identity{AccountID: a.ID, Account: a.Name, Key: conn.Permissions.Extensions[extKey],
			Source: conn.RemoteAddr(), Local: conn.LocalAddr(), FactorsOK: conn.Permissions.Extensions[extFactors] == "1",
			At: s.env.Deps().Now()},
		Account: a, AuthKey: conn.Permissions.Extensions[extKey], Roles: s.rolesOf(ctx, a),
		RemoteAddr: conn.RemoteAddr(), LocalAddr: conn.LocalAddr(),
		In: ch, Out: ch, Err: ch.Stderr(), Resize: resize, Signals: signals, RawOut: ch, RawErr: ch.Stderr(),
		TargetFactors: answeredFrom(ctx),
	}
	// A long session (the interactive mode) sees a freeze, a revoked grant or a deleted account
	// at its next line, as The Bastion does by starting osh.pl anew for each line.
	sess.Reload = func(ctx context.Context) error {
		a, err := s.env.Deps().Store.GetAccount(ctx, accountOf(conn))
		if err != nil {
			return err
		}
		if a.ID != sess.Account.ID {
			return fmt.Errorf("account %s was deleted and recreated: %w", a.Name, store.ErrNotFound)
		}
		sess.Account, sess.Roles = a, s.rolesOf(ctx, a)
		return nil
	}
	if pty != nil {
		sess.PTY, sess.Term, sess.Cols, sess.Rows, sess.Modes = true, pty.Term, int(pty.Cols), int(pty.Rows), pty.Modes
		// Without a line discipline on our side, a terminal needs CR before LF.
		sess.Out = &crlfWriter{w: ch}
		sess.Err = &crlfWriter{w: ch.Stderr()}
	}
	return sess, 0
}

// endNoticeBound is how long ending a session from the registry waits for its notice to be
// written to a client that stopped reading.
const endNoticeBound = time.Second

// endedBy is why a session was ended from the Running registry, and the exit status it ends with.
type endedBy struct {
	reason string
	exit   int
}

// ender ends one registered session at most once: the reason to the user first, then the exit
// status, then the channel closed. The session's own end waits for an end in flight (settle),
// so its channel is never closed under the reason being written.
type ender struct {
	once  sync.Once
	ended atomic.Pointer[endedBy]
	ch    ssh.Channel
	clk   clock.Clock
	// cancel stops what runs; it winds down behind (its recording, its audit entries).
	cancel context.CancelFunc
	// cut closes the client's connection (its socket: it writes nothing), for an account-wide
	// end whose exit status and close could not go out (cutDecision); nil: nothing to cut.
	cut func()
}

// end tells the user why, gives the exit status and closes the channel; only the first call
// does anything, a concurrent one returns once it is done. accountWide: everything of the
// account ends (a freeze, a deletion, its TTL), so a client that does not read has its
// connection cut once the close could not go out; an end of this session alone (its recording
// failed, an idle kill) never cuts: the connection may carry the account's other sessions
// (ControlMaster), and they go on.
func (e *ender) end(reason string, exit int, accountWide bool) {
	e.once.Do(func() {
		e.ended.Store(&endedBy{reason, exit})
		// The reason first, so that a reading client sees it before its channel closes; but a
		// client that stopped reading (a full window) blocks that write for as long as it
		// likes: it is waited for endNoticeBound at most (on the server's clock), then the
		// session ends anyway (the write fails once the channel is closed).
		said := make(chan struct{})
		go func() {
			defer close(said)
			defer crash.Recover(func(*crash.Panic) {}) // the session is being ended: nothing more to end
			_, _ = fmt.Fprintf(e.ch.Stderr(), "\r\n*** %s: this session is closed. ***\r\n", reason)
		}()
		bound, notice := clock.After(e.clk, endNoticeBound)
		select {
		case <-said:
		case <-bound:
		}
		notice.Stop()
		e.cancel()
		// The exit status and the close are writes to the connection too: a client that stopped
		// reading its socket (not only its window) holds them in x/crypto's transport for as
		// long as it likes, and with them the registry's End (a freeze's other sessions, the
		// admin's command). What runs is cancelled already; they are waited for as long again,
		// then, for an account-wide end, the connection is cut: what waits behind them (this
		// goroutine, the connection's, the channel) would otherwise live as long as the client
		// does not read.
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			defer crash.Recover(func(*crash.Panic) {})
			_, _ = e.ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(exit)}))
			_ = e.ch.CloseWrite()
			_ = e.ch.Close()
		}()
		bound, wait := clock.After(e.clk, endNoticeBound)
		wentOut := false
		select {
		case <-closed:
			wentOut = true
		case <-bound:
			select {
			case <-closed:
				wentOut = true
			default:
			}
		}
		wait.Stop()
		if e.cut != nil && cutDecision(accountWide, wentOut) {
			e.cut()
		}
	})
}

// settle is called once what runs is over: an end in flight is waited for (its reason reaches
// the user before the channel closes), and none starts after (the session ended by itself).
func (e *ender) settle() { e.once.Do(func() {}) }

// register puts the session of conn, the client's connection, in the Running registry until
// remove is called. Ending it from
// there (a freeze or a deletion of its account) tells the user why, gives the exit status and
// closes the channel at once, whatever runs: a relay whose target is slow to close, or a session
// blocked reading its input (batch, a confirmation), must not keep the user connected. What ran
// is cancelled and winds down behind (its recording and audit entries are still completed);
// e.ended holds the reason for the session's row. An account's TTL ends its sessions the same
// way when it passes (a TTL is set at creation and never moved, so the session's copy is exact).
// An account-wide end (not EndSession's) whose close cannot go out cuts conn (ender.end).
func (s *Server) register(sess *session.Session, conn io.Closer, ch ssh.Channel, cancel context.CancelFunc) (e *ender, remove func()) {
	deps := s.env.Deps()
	e = &ender{ch: ch, clk: clock.Or(deps.Clock), cancel: cancel}
	if conn != nil {
		account := sess.Account.Name
		e.cut = func() {
			s.log.Info("the client does not read: its connection is cut", "account", account, "what", "a session")
			_ = conn.Close() // a socket's close writes nothing: that is the point
		}
	}
	remove = func() {}
	if s.Running != nil {
		remove = s.Running.Add(sess.Account.ID, sess.ID, e.end)
	}
	if exp := sess.Account.ExpiresAt; !exp.IsZero() {
		ttl := e.clk.AfterFunc(exp.Sub(deps.Now()), func() {
			e.end(fmt.Sprintf("Your account TTL has expired (since %s)", exp.Format(time.RFC3339)), refusal.ExitTTLExpired, true)
		})
		unregister := remove
		remove = func() { ttl.Stop(); unregister() }
	}
	return e, remove
}

func (s *Server) rolesOf(ctx context.Context, a store.Account) session.Roles {
	roles := session.RolesOf(a)
	if s.RoleHook != nil {
		s.RoleHook(ctx, a, &roles)
	}
	return roles
}

// crlfWriter turns lone "\n" into "\r\n" for terminals.
type crlfWriter struct {
	mu   sync.Mutex
	w    io.Writer
	last byte
}

func (c *crlfWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	buf := make([]byte, 0, len(p)+len(p)/16+1)
	for _, b := range p {
		if b == '\n' && c.last != '\r' {
			buf = append(buf, '\r')
		}
		buf = append(buf, b)
		c.last = b
	}
	if _, err := c.w.Write(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}
