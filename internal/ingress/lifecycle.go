package ingress

// The lifecycle of one connection, in order. A newcomer reads this file top to bottom; each step
// names the package that owns its decision.
//
//  1. accept: Serve's loop takes the TCP connection; the front door's limits (MaxStartups,
//     PerSourceMaxStartups, penalties, LoginGraceTime) refuse before any SSH byte
//     (server.go, persource.go).
//  2. authenticate: the SSH handshake. PublicKeyCallback only looks a key up (offered, not
//     proven); VerifiedPublicKeyCallback binds the account to the key whose signature was
//     verified, with its from="…" (internal/sshkey); the Authenticator (internal/mfaauth) then
//     asks the login-time second factors, or lets a key-less account in with factors only
//     (server.go).
//  3. Identity: on each session channel, newSession reads the account by its immutable id and
//     builds the session.Session with its session.Identity (account id and name, key, source,
//     factors passed), set here once and never written again (session.go).
//  4. parse once: Env.Parse (the command language, internal/osh) turns the line into a
//     session.Line; the recorder and the dispatcher read the same value (begin, below).
//  5. record: Tracker.Begin (internal/sessionlog) opens the recording, the session row and the
//     first audit entry; what cannot be recorded does not run (begin).
//  6. decide and run: the middleware chain below, recover first, as charmbracelet/wish composes
//     it: recovering (the one recovery point, internal/crash) → registered (a freeze, a
//     deletion or the TTL ends the session, internal/running) → reloaded (the account as the
//     store holds it now) → Env.Serve: the dispatcher (internal/osh) applies the account gate
//     (internal/access.AccountGate), maintenance, the MFA gates (internal/mfaauth, policy in
//     internal/mfa/policy) and runs a command, or hands [user@]host to the connector
//     (internal/connect: the access decision internal/access.Decide, MFA, egress, relay).
//  7. outcome: Serve returns what the session did (session.Outcome) and its exit status; the
//     user gets the status first (run).
//  8. record/audit: SessionTrack.End closes the recording and completes the row and the audit
//     log with the returned outcome (internal/sessionlog).

import (
	"cmp"
	"context"
	"errors"
	"io"
	"sync"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/crash"
	"gatehouse/internal/refusal"
	"gatehouse/internal/session"
	"gatehouse/internal/termsize"
)

// begun is a session channel that passed steps 3 to 5: its Session is built, its line parsed
// once, its recording opened (track is nil without a Tracker).
type begun struct {
	sess  *session.Session
	ln    session.Line
	track SessionTrack
	// ended, once the session is registered, says whether it was ended from the registry.
	ended func() *endedBy
}

// begin runs steps 3 to 5. It returns nil and the exit status when the session cannot start.
func (s *Server) begin(ctx context.Context, conn *ssh.ServerConn, ch ssh.Channel, pty *ptyRequest, resize chan termsize.Size, signals chan string, line string) (*begun, int) {
	sess, status := s.newSession(ctx, conn, ch, pty, resize, signals)
	if sess == nil {
		return nil, status
	}
	ln := s.env.Parse(line)
	sess.Request = ln.Request
	b := &begun{sess: sess, ln: ln}
	if s.Tracker == nil {
		return b, 0
	}
	t, err := s.Tracker.Begin(ctx, sess, ln)
	if err != nil {
		// Fail closed: what cannot be recorded does not run.
		s.log.Error("cannot record session, refusing it", "account", sess.Account.Name, "err", err)
		msg := "This session cannot be recorded, so it is refused; please tell the bastion administrators."
		var um interface{ UserMessage() string }
		if errors.As(err, &um) { // a reason the user may read (the archive's disk budget)
			msg = um.UserMessage()
		}
		_, _ = io.WriteString(ch.Stderr(), msg+"\r\n")
		return nil, refusal.ExitPluginFailed
	}
	b.track = t
	// Ingress owns the session: it takes the id and the recorder the track returns.
	sess.ID, sess.PauseRecording = t.ID(), t.Pause
	rec := t.Recorder()
	recOut, recErr := io.Writer(rec), io.Writer(rec)
	if sess.PTY { // the recording keeps what the terminal got: Out and Err add CR before LF there
		recOut, recErr = &crlfWriter{w: rec}, &crlfWriter{w: rec}
	}
	sess.Out, sess.Err = recordFirst(recOut, sess.Out), recordFirst(recErr, sess.Err)
	sess.RawOut, sess.RawErr = recordFirst(rec, sess.RawOut), recordFirst(rec, sess.RawErr)
	if ir, ok := t.(InputRecording); ok {
		if w := ir.InputRecorder(); w != nil {
			// A transfer recorded whole: what the client sends (an upload) is kept too.
			sess.In = io.TeeReader(sess.In, w)
		}
	}
	return b, 0
}

// recordFirst gives each write to rec, then, only once rec took it whole, to user: nothing
// reaches the user that the recording was not given (a recorder that failed, a full disk,
// fails the write before the user sees it; the user's own failure comes after the recording,
// which then holds what the user may not have got: more evidence, never less).
func recordFirst(rec, user io.Writer) io.Writer { return &recordFirstWriter{rec: rec, user: user} }

// recordFirstWriter is recordFirst's writer: io.MultiWriter(rec, user), which also passes a
// relay's buffer to a recorder that takes it without a copy (WriteOwned).
type recordFirstWriter struct{ rec, user io.Writer }

func (w *recordFirstWriter) Write(p []byte) (int, error) {
	n, err := w.rec.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return n, err
	}
	n, err = w.user.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return n, err
}

// ownedWriter is a writer that may keep the caller's buffer (egress.OwnedWriter).
type ownedWriter interface {
	WriteOwned(p []byte) (next []byte, err error)
}

// WriteOwned gives p to the recorder, which may keep it (the caller must not touch p again),
// then to the user, and returns the recorder's buffer for the caller's next read (egress's
// relay is the one caller of a session's output).
func (w *recordFirstWriter) WriteOwned(p []byte) ([]byte, error) {
	rec, ok := w.rec.(ownedWriter)
	if !ok {
		_, err := w.Write(p)
		return p, err
	}
	next, err := rec.WriteOwned(p)
	if err != nil {
		return next, err
	}
	if n, err := w.user.Write(p); err != nil || n < len(p) { // read only, as the recorder's worker reads it
		return next, cmp.Or(err, io.ErrShortWrite)
	}
	return next, nil
}

// InputRecording is a SessionTrack that may keep what the client sends (transferRecording =
// "full" keeps a transfer's uploads): InputRecorder returns nil when it does not.
type InputRecording interface {
	InputRecorder() io.Writer
}

// step is one stage of step 6; middleware wraps it.
type step func(ctx context.Context, b *begun) (session.Outcome, int)

type middleware func(next step) step

// chain composes middleware, the first one outermost (it sees everything the others do).
func chain(mw ...middleware) func(step) step {
	return func(h step) step {
		for i := len(mw) - 1; i >= 0; i-- {
			h = mw[i](h)
		}
		return h
	}
}

// run runs steps 6 to 8 for a session that began.
func (s *Server) run(ctx context.Context, conn *ssh.ServerConn, ch ssh.Channel, cancel context.CancelFunc, b *begun, done chan<- int) {
	h := chain(s.recovering(conn), s.registered(conn, ch, cancel), s.reloaded)(s.serve)
	out, status := h(ctx, b)
	// The user gets the exit status first; closing the recording (an fsync) and writing the
	// audit entry happen after.
	done <- status
	s.end(ctx, conn, b, &out, status)
}

// end is step 8. Apart from run: run's goroutine waits in h for the session's whole life, so its
// frame is kept small (see connect.Connect).
func (s *Server) end(ctx context.Context, conn *ssh.ServerConn, b *begun, out *session.Outcome, status int) {
	if b.track == nil {
		return
	}
	o := *out
	if p := crash.Catch(func() { b.track.End(context.WithoutCancel(ctx), b.sess, o, status) }); p != nil {
		s.panicked(b.sess.Account.Name, conn.RemoteAddr(), p)
	}
}

// recovering is the session's one recovery point: a panic anywhere below ends this connection
// only (logged with its stack, audited, counted); the session is still ended and recorded.
func (s *Server) recovering(conn *ssh.ServerConn) middleware {
	return func(next step) step {
		return func(ctx context.Context, b *begun) (out session.Outcome, status int) {
			p := crash.Catch(func() { out, status = next(ctx, b) })
			if p == nil {
				return out, status
			}
			_, _ = io.WriteString(b.sess.Err, "An internal error ended this session; the bastion administrators have the details.\n")
			out, _ = p.Known.(session.Outcome) // what the dispatcher knew when it panicked
			status = refusal.ExitPluginFailed
			// Ending the connection is the point; an error closing it changes nothing.
			_ = conn.Close()
			s.panicked(b.sess.Account.Name, conn.RemoteAddr(), p)
			if b.ended != nil {
				if why := b.ended(); why != nil {
					out.Comment, status = why.reason, why.exit
				}
			}
			return out, status
		}
	}
}

// registered puts the session in the Running registry while it runs: a freeze, a deletion,
// the account's TTL or its recording failing ends it, and its outcome then says why. The
// session's channel is closed only once the reason has been written to it.
func (s *Server) registered(conn io.Closer, ch ssh.Channel, cancel context.CancelFunc) middleware {
	return func(next step) step {
		return func(ctx context.Context, b *begun) (session.Outcome, int) {
			e, unregister := s.register(b.sess, conn, ch, cancel)
			remove := sync.OnceFunc(unregister)
			defer remove() // also when what runs panics
			b.ended = e.ended.Load
			var out session.Outcome
			status := 0
			if !endIfUnrecordable(e, b.track) { // it failed before it was registered: it does not run
				out, status = next(ctx, b)
			}
			// A recording that failed ends the session with its reason, even when its relay
			// saw the failed stream and ended first; otherwise an end in flight finishes
			// telling the user before the channel closes, and none starts after.
			if !endIfUnrecordable(e, b.track) {
				e.settle()
			}
			remove()
			if why := e.ended.Load(); why != nil {
				out.Comment, status = why.reason, why.exit
			}
			return out, status
		}
	}
}

// RecordingFailure is a SessionTrack whose recording can fail in a way that ends the session
// (a relayed session on a full disk): failed says so, with the reason to tell the user and the
// exit status.
type RecordingFailure interface {
	RecordingFailure() (reason string, exit int, failed bool)
}

// endIfUnrecordable ends the session through e when its recording has failed, and says so.
func endIfUnrecordable(e *ender, t SessionTrack) bool {
	f, ok := t.(RecordingFailure)
	if !ok {
		return false
	}
	reason, exit, failed := f.RecordingFailure()
	if failed {
		e.end(reason, exit, false) // this session alone: the connection may carry others
	}
	return failed
}

// reloaded reads the account again once registered: a freeze or a deletion that landed since
// newSession is seen here, and any later one reaches the registry.
func (s *Server) reloaded(next step) step {
	return func(ctx context.Context, b *begun) (session.Outcome, int) {
		if err := b.sess.Reload(ctx); err != nil {
			_, _ = io.WriteString(b.sess.Err, "Your account no longer exists on this bastion.\n")
			return session.Outcome{}, refusal.ExitInactive
		}
		return next(ctx, b)
	}
}

// serve hands the session to the command language (Env.Serve): decide and run.
func (s *Server) serve(ctx context.Context, b *begun) (session.Outcome, int) {
	return s.env.Serve(ctx, b.sess, b.ln)
}
