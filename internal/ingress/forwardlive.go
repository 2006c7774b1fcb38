package ingress

// One decision for every forward, new or live. A forwarded connection (ssh -L/-D on the
// bastion, -L/-D inside a jump, each connection of an -R listener) is decided when it opens and
// then again, as a session is, for as long as it is open:
//   - a freeze or a deletion of its account ends it at once: it is in the Running registry,
//     as sessions are (and, through it, the other nodes' controls reach it);
//   - the account's TTL ends it at its instant: a timer on the server's clock, as a session's;
//   - anything else the store says since (a grant revoked, the key the connection logged in
//     with removed, an MFA requirement the connection did not answer) ends it at the next
//     re-check, every forwardRecheckEvery on the server's clock.
// Each re-check runs the same decision as the open (forwardDecision: the store as it is now,
// the pure forwardVerdict, then the MFA check where the open had one). A store that does not
// answer ends it (fail closed). The forward.close event then carries its bytes and the reason.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/access"
	"gatehouse/internal/accessdb"
	"gatehouse/internal/clock"
	"gatehouse/internal/crash"
	"gatehouse/internal/store"
)

// forwardRecheckEvery bounds how long a live forwarded connection outlives a change of its
// account's rights that no control announces (a grant revoked, a key removed, a new MFA
// requirement).
const forwardRecheckEvery = 10 * time.Second

// forwardFacts is what the store holds now for a forward's account (forwardFactsOf reads it).
type forwardFacts struct {
	Read    bool // the store answered
	Found   bool // the account the connection logged in as, same immutable id
	KeyOK   bool // the key the connection authenticated with is still the account's (true: no key)
	Account store.Account
	Inputs  accessdb.Inputs
}

// Refusals of forwardVerdict before the access decision, as the user and the audit read them.
var (
	//lint:ignore ST1005 The Bastion's sentence, shown as is
	errForwardNoAccount = errors.New("Your account no longer exists on this bastion")
	errForwardKeyGone   = errors.New("the key this connection logged in with was removed from the account")
)

// forwardVerdict decides whether a forward may be made, or go on: the store answered, the
// account is the one that logged in, its key is still its own, and access.DecideForwarding
// grants the request (which refuses a frozen, expired or --osh-only account). Pure; tested as
// a table (TestForwardVerdictTable).
func forwardVerdict(now time.Time, f forwardFacts, r access.ForwardRequest) (access.Decision, error) {
	switch {
	case !f.Read:
		return access.Decision{}, errAccessesUnread
	case !f.Found:
		return access.Decision{}, errForwardNoAccount
	case !f.KeyOK:
		return access.Decision{}, errForwardKeyGone
	}
	return access.DecideForwarding(now, f.Inputs.Account, f.Inputs.Groups, f.Inputs.Personal, r)
}

// forwardFactsOf reads, from the store as it is now, what forwardVerdict needs for outer's
// account.
func (s *Server) forwardFactsOf(ctx context.Context, outer *ssh.ServerConn) forwardFacts {
	st := s.env.Deps().Store
	a, err := st.GetAccount(ctx, accountOf(outer))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return forwardFacts{Read: true}
	case err != nil:
		return forwardFacts{}
	case a.ID != outer.Permissions.Extensions[extAccountID]:
		return forwardFacts{Read: true} // deleted and recreated under the name: another account
	}
	f := forwardFacts{Read: true, Found: true, KeyOK: true, Account: a}
	if fp := outer.Permissions.Extensions[extKey]; fp != "" {
		_, err := st.FindIngressKey(ctx, a.Name, fp)
		switch {
		case errors.Is(err, store.ErrNotFound):
			f.KeyOK = false
		case err != nil:
			return forwardFacts{}
		}
	}
	if f.Inputs, err = accessdb.Load(ctx, st, a); err != nil {
		return forwardFacts{}
	}
	return f
}

// forwardDecision is the one decision of a forward, new or live: the store as it is now, the
// pure verdict, then, when mfa is set, the MFA check (the factors answered when the connection
// authenticated must cover what policy asks now: no prompt is possible).
func (s *Server) forwardDecision(ctx context.Context, outer *ssh.ServerConn, r access.ForwardRequest, mfa bool, answered []string) (access.Decision, forwardFacts, error) {
	f := s.forwardFactsOf(ctx, outer)
	d, err := forwardVerdict(s.env.Deps().Now(), f, r)
	if err != nil {
		return d, f, err
	}
	if mfa {
		dial := RemoteForwardDial{Session: forwardSession(s, outer, f.Account, answered), Target: r.Target, Decision: d, Keys: f.Inputs.Keys}
		if err := s.forwardMFA(ctx, dial); err != nil {
			return d, f, err
		}
	}
	return d, f, nil
}

// forwardEnded is why a live forwarded connection was ended (its context's cause).
type forwardEnded struct{ reason string }

func (e *forwardEnded) Error() string { return e.reason }

// endedReason is why ctx (a live forward's) was ended by a re-check or a control; "" when it
// was not (the relay ended by itself, or the connection did).
func endedReason(ctx context.Context) string {
	var e *forwardEnded
	if errors.As(context.Cause(ctx), &e) {
		return e.reason
	}
	return ""
}

// endedComment is the forward.close comment of a relay under ctx: why it was ended, if it was.
func endedComment(ctx context.Context) string {
	if why := endedReason(ctx); why != "" {
		return "ended: " + why
	}
	return ""
}

// nextLiveForwardID names the live forwarded connections in the Running registry.
var nextLiveForwardID atomic.Uint64

// liveForward keeps one open forwarded connection under the account's rights: it returns the
// context to relay it under, ended (with a forwardEnded cause) by a freeze or a deletion (the
// Running registry), the account's TTL (expires, on the server's clock) or a re-check that
// check refuses; stop ends the watch once the relay is over.
func (s *Server) liveForward(ctx context.Context, outer *ssh.ServerConn, expires time.Time, check func(context.Context) error) (relay context.Context, stop func()) {
	accountID := outer.Permissions.Extensions[extAccountID]
	rctx, cancel := context.WithCancelCause(ctx)
	end := func(reason string) { cancel(&forwardEnded{reason: reason}) }
	w := &forwardWatch{clk: clock.Or(s.env.Deps().Clock), now: s.env.Deps().Now, expires: expires, ctx: rctx, check: check, end: end,
		onPanic: func(p *crash.Panic) {
			s.panicked(accountOf(outer), outer.RemoteAddr(), p)
			end("the re-check of this forward failed")
		}}
	unregister := func() {}
	var stopped atomic.Bool
	if s.Running != nil {
		unregister = s.Running.Add(accountID, "forward-"+strconv.FormatUint(nextLiveForwardID.Add(1), 10), func(reason string, _ int, _ bool) {
			end(reason)
			// A relay that cannot end (its client does not read) cuts its connection (jumpend.go).
			s.cutAfter(w.clk, &stopped, outer, accountOf(outer))
		})
	}
	w.arm()
	return rctx, func() {
		stopped.Store(true)
		w.stop()
		unregister()
		cancel(nil)
	}
}

// forwardWatch re-checks one live forwarded connection on the server's clock. It holds no
// goroutine between checks (a timer), and each check runs on its own (a store read must not
// hold the clock's caller).
type forwardWatch struct {
	clk     clock.Clock
	now     func() time.Time
	expires time.Time
	ctx     context.Context
	check   func(context.Context) error
	end     func(reason string)
	onPanic func(*crash.Panic)

	mu      sync.Mutex
	timer   clock.Timer
	stopped bool
}

// next is when the next check is due: forwardRecheckEvery from now, or the account's TTL if
// sooner.
func (w *forwardWatch) next() time.Duration {
	d := forwardRecheckEvery
	if !w.expires.IsZero() {
		if left := w.expires.Sub(w.now()); left < d {
			d = max(left, 0)
		}
	}
	return d
}

// arm sets the next check (next).
func (w *forwardWatch) arm() {
	d := w.next()
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.timer = w.clk.AfterFunc(d, func() { go w.run() })
	}
}

func (w *forwardWatch) run() {
	defer crash.Recover(w.onPanic)
	if w.ctx.Err() != nil {
		return
	}
	// The TTL is the open's, never moved: at its instant the forward ends without asking the
	// store (which may not answer). A check that has not answered when the next one is due
	// ends it too: a store that hangs (no error, no answer) must not keep it open unchecked.
	if w.ttlPassed() {
		w.end(w.ttlReason())
		return
	}
	var answered atomic.Bool
	hung := w.clk.AfterFunc(w.next(), func() {
		switch {
		case answered.Load():
		case w.ttlPassed():
			w.end(w.ttlReason())
		default:
			w.end("the store did not answer the re-check of this forward")
		}
	})
	err := w.check(w.ctx)
	answered.Store(true)
	hung.Stop()
	if err != nil {
		if w.ctx.Err() == nil { // the relay did not end meanwhile: the refusal is the store's word
			w.end(err.Error())
		}
		return
	}
	w.arm()
}

func (w *forwardWatch) ttlPassed() bool {
	return !w.expires.IsZero() && !w.now().Before(w.expires)
}

func (w *forwardWatch) ttlReason() string {
	return fmt.Sprintf("Your account TTL has expired (since %s)", w.expires.Format(time.RFC3339))
}

func (w *forwardWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
}
