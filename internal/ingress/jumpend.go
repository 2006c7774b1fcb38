package ingress

// A registry end (a freeze, a deletion, an expired account: everything of the account ends) of
// a jump or a forward whose client stopped reading its socket. The close of a jump's inner
// connection, or of a forwarded channel, is a message on the client's connection, which
// x/crypto's transport holds behind a write the full socket blocks, for as long as the client
// likes. The registry's End (an admin's freeze) must not wait on it: the close runs off its
// goroutine. And what waits behind that close must not live on either: the jump's goroutines,
// the relays blocked writing to the client, the session whose relay still holds its login to
// the target, their registry entries. So when the close has not gone out within endNoticeBound
// on the server's clock, the client's connection is cut: its socket closed, which writes
// nothing, and everything on it unwinds (cutDecision).

import (
	"io"
	"strconv"
	"sync/atomic"

	"gatehouse/internal/clock"
	"gatehouse/internal/crash"
)

// jumpEndGrace is how long a jump ended from the registry is left to end by itself before its
// inner connection is closed: its sessions' ends tell their users why (endNoticeBound for the
// reason, as long again for the exit status and the close), and a client that reads then
// closes the inner connection itself (ssh -J exits with its session).
const jumpEndGrace = 2 * endNoticeBound

// cutDecision says, once an end's bound has passed, whether the client's connection is cut:
// only when the end's close has not gone out (closed false), and only for an end of everything
// of the account (accountWide: a registry End, a freeze or a deletion, or the account's TTL:
// the account may do nothing any more, so nothing else on the connection is lost). A close that
// went out, or an end of one part alone (a forward's grant revoked, a session's recording
// failed or its idle kill, the registry's EndSession: the account's other work on the
// connection, a ControlMaster's other sessions, goes on), never cuts. Pure;
// TestCutDecisionTable.
func cutDecision(accountWide, closed bool) bool {
	return accountWide && !closed
}

// closeOrCut closes c (a close that is a message on conn, the client's connection) off the
// caller's goroutine, and cuts conn when that close has not gone out within endNoticeBound on
// the server's clock. what names c in the log.
func (s *Server) closeOrCut(c, conn io.Closer, account, what string) {
	var closed atomic.Bool
	cut := clock.Or(s.env.Deps().Clock).AfterFunc(endNoticeBound, func() {
		if cutDecision(true, closed.Load()) {
			s.log.Info("the client does not read: its connection is cut", "account", account, "what", what)
			_ = conn.Close() // a socket's close writes nothing: that is the point
		}
	})
	go func() {
		defer crash.Recover(func(*crash.Panic) {}) // being ended: nothing more to end
		_ = c.Close()                              // ending it is the point
		closed.Store(true)
		cut.Stop()
	}()
}

// nextJumpID names the jumps in the Running registry.
var nextJumpID atomic.Uint64

// registerJump puts a jump of account (accountID, its immutable id) in the Running registry
// until the returned remove is called: a registry end ends its forwards with the reason
// (endForwards), leaves it jumpEndGrace to end by itself (done closed), then closes its inner
// connection, or cuts conn, the client's connection (closeOrCut).
func (s *Server) registerJump(accountID, account string, inner, conn io.Closer, endForwards func(reason string), done <-chan struct{}) (remove func()) {
	if s.Running == nil {
		return func() {}
	}
	return s.Running.Add(accountID, "jump-"+strconv.FormatUint(nextJumpID.Add(1), 10), func(reason string, _ int, _ bool) {
		endForwards(reason)
		clk := clock.Or(s.env.Deps().Clock)
		clk.AfterFunc(jumpEndGrace, func() {
			select {
			case <-done:
				return
			default:
			}
			s.closeOrCut(inner, conn, account, "a jump's inner connection")
			// The inner close may return (its message queued within the window) and the jump
			// still not end, its relays blocked writing to a client that does not read: then
			// its client is cut all the same once the close has had its bound (everything of
			// the account ends; a loaded CI machine showed the jump left in the registry).
			clk.AfterFunc(2*endNoticeBound, func() {
				select {
				case <-done:
				default:
					s.log.Info("a jump did not end after its inner connection's close: its client's connection is cut", "account", account)
					_ = conn.Close() // a socket's close writes nothing: that is the point
				}
			})
		})
	})
}

// cutAfter is liveForward's part of a registry end: once endNoticeBound has passed on clk, a
// relay that has not stopped (its client channel's close could not go out, or its copy is
// blocked writing to the client) has its client's connection, conn, cut.
func (s *Server) cutAfter(clk clock.Clock, stopped *atomic.Bool, conn io.Closer, account string) {
	clk.AfterFunc(endNoticeBound, func() {
		if cutDecision(true, stopped.Load()) {
			s.log.Info("the client does not read: its connection is cut", "account", account, "what", "a forwarded connection")
			_ = conn.Close() // a socket's close writes nothing: that is the point
		}
	})
}
