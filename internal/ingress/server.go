// Package ingress is gatehouse's SSH server: the door people knock on.
//
// Lifecycle of one connection:
//
//  1. Accept. Unauthenticated connections are counted; beyond maxStartups they are dropped at
//     random as sshd does (start:rate:full), and each has loginGraceTime to authenticate.
//  2. Authenticate. publickey: the offered key must be one of the account's ingress keys and its
//     from="…" must match the client address. The account is bound only in
//     VerifiedPublicKeyCallback, i.e. to the key whose signature was checked, never to a key that
//     was merely offered. Second factors (keyboard-interactive) are asked by the Authenticator
//     hook when policy wants them. Any error refuses: there is no path that grants by default.
//  3. Channels. Only "session" channels are accepted, up to maxSessions per connection, and
//     ProxyJump's "direct-tcpip", answered by an SSH server of gatehouse's own (jump.go), never
//     forwarded as raw TCP. pty-req, env (LANG, LC_*), window-change and signal are
//     honoured; exec or shell runs the line through the command language (internal/osh).
//  4. End. The exit status is sent, the channel closed; the connection ends when the client
//     closes it or the server shuts down (ctx cancelled).
package ingress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/access"
	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/crash"
	"gatehouse/internal/session"
	"gatehouse/internal/sshkey"
	"gatehouse/internal/store"
)

// Extension keys set on ssh.Permissions during authentication.
const (
	extAccount  = "gatehouse-account"
	extKey      = "gatehouse-key-fp"
	extVerified = "gatehouse-key-verified"
	extFactors  = "gatehouse-factors-ok"
	// extAccountID binds the connection to the account's immutable id: a namesake created after
	// a deletion is another account, and this connection never acts as it.
	extAccountID = "gatehouse-account-id"
)

// Authenticator decides, after a verified public key, whether more factors are needed. It
// returns nil to accept, a *ssh.PartialSuccessError to continue with keyboard-interactive, or an
// error to refuse. Nil means no second factor is configured.
type Authenticator interface {
	AfterPublicKey(conn ssh.ConnMetadata, account store.Account, perms *ssh.Permissions) (*ssh.Permissions, error)
	// WithoutPublicKey handles accounts allowed to log in with factors only (pubkey optional);
	// account.Name is "" for a name with no account. It should answer every other name the
	// same way (prompts, then a refusal); nil callbacks mean "refuse at once".
	WithoutPublicKey(conn ssh.ConnMetadata, account store.Account) func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error)
}

// Tracker records and audits sessions. Begin runs before the line is served and may wrap the
// session's writers; a Begin error refuses the session (fail closed).
type Tracker interface {
	// Begin opens the session's recording, row and first audit entry for the parsed line, before
	// anything runs; an error refuses the session (what cannot be recorded does not run).
	Begin(ctx context.Context, s *session.Session, ln session.Line) (SessionTrack, error)
}

// SessionTrack follows one session: its id and recorder, its window changes, then its end.
// Ingress, which owns the session, puts the id and the recorder in it.
type SessionTrack interface {
	// ID is the session's unique id (its recording, its row, its audit entries).
	ID() string
	// Recorder receives a copy of everything the session shows.
	Recorder() io.Writer
	// Pause stops (true) and resumes (false) recording (output that holds a secret).
	Pause(paused bool)
	Resize(cols, rows int)
	// End closes the recording and completes the row and the audit log with what the session
	// did (o, as the dispatcher returned it) and its exit status.
	End(ctx context.Context, s *session.Session, o session.Outcome, exitStatus int)
}

// Server is the SSH server. Create it with New; Serve may be called once.
type Server struct {
	env      Env
	hostKeys []ssh.Signer
	log      *slog.Logger
	// Auth, when set, adds second factors after the public key.
	Auth Authenticator
	// RoleHook, when set, completes an account's roles (group roles) at session start.
	RoleHook func(ctx context.Context, a store.Account, r *session.Roles)
	// Tracker, when set, records and audits every session.
	Tracker Tracker
	// Running, when set, registers every session under its account's immutable id, so that a
	// freeze or a deletion ends it at once (internal/running).
	Running interface {
		Add(accountID, sessionID string, end func(reason string, exit int, accountWide bool)) (remove func())
	}
	// AuthEvent, when set, hears every authentication attempt (method, success) for audit and
	// metrics; it is never given a secret.
	AuthEvent func(conn ssh.ConnMetadata, method string, err error)
	// OnPanic, when set, hears a panic that ended one connection, after it was logged and
	// counted: for the audit log. account is "" when it happened before authentication.
	OnPanic func(account string, v any, stack []byte)
	// Now is the clock of the per-source penalties; nil means time.Now.
	Now func() time.Time
	// SharedPenalties makes the per-source penalties go through the store, shared by the nodes
	// of a cluster (set with a shared PostgreSQL store; a single node keeps them in memory).
	SharedPenalties bool
	// ProxyHeaderTimeout bounds the wait for a trusted balancer's PROXY header (proxyproto.go);
	// 0 means DefaultProxyHeaderTimeout.
	ProxyHeaderTimeout time.Duration
	// Jump, when set, answers ProxyJump's direct-tcpip channels with an SSH server (jump.go).
	Jump *Jump
	// TargetAuth, when set, gives the function that asks, over keyboard-interactive while the
	// connection authenticates, the factors that connecting acct to a fixed target requires
	// (a jump's inner connection, a target in the user name: usertarget.go); nil: nothing to ask.
	TargetAuth func(ctx context.Context, conn ssh.ConnMetadata, acct store.Account, required []string, target string) func(ssh.KeyboardInteractiveChallenge) ([]string, error)
	// RemoteForward, when set, logs in to a fixed target for ssh -R (rforward.go): the
	// connector's DialForward. Nil: every remote forward is refused.
	RemoteForward func(ctx context.Context, d RemoteForwardDial) (ssh.Conn, error)

	sources sources // per-source states (persource.go)

	unauth   atomic.Int64
	sessions atomic.Int64 // session channels open now
	conns    sync.WaitGroup
	active   atomic.Int64
	stats    Stats
	closing  chan struct{}
	closeOne sync.Once
}

// Stats are counters for metrics and tests.
type Stats struct {
	Accepted, DroppedStartups, AuthFailed, AuthOK, Sessions atomic.Int64
	// Panics counts connections ended by a panic in their handling.
	Panics atomic.Int64
	// AcceptErrors counts failed accepts (the server backs off and goes on).
	AcceptErrors atomic.Int64
	// PerSourceRefused and PenaltyRefused count connections refused by the per-source limits.
	PerSourceRefused, PenaltyRefused atomic.Int64
	// Proxy counts the PROXY protocol's outcomes (proxyproto.go).
	Proxy ProxyStats
}

// Env is what ingress hands an authenticated session to: the command language (osh.Env) in
// production. Ingress knows nothing of the language; it reads the shared parts (the store, the
// configuration, the clock) and calls Serve once per session channel.
type Env interface {
	Deps() session.Deps
	// Parse parses the line once, for the recorder and the dispatcher.
	Parse(line string) session.Line
	// Serve runs the parsed line and returns what the session did and its exit status.
	Serve(ctx context.Context, s *session.Session, ln session.Line) (session.Outcome, int)
}

// New returns a server that runs lines through env.
func New(env Env, hostKeys []ssh.Signer, log *slog.Logger) *Server {
	return &Server{env: env, hostKeys: hostKeys, log: log, closing: make(chan struct{})}
}

// Stats returns the server's counters.
func (s *Server) Stats() *Stats { return &s.stats }

// ActiveSessions is the number of session channels open now.
func (s *Server) ActiveSessions() int64 { return s.sessions.Load() }

// ActiveConnections is the number of authenticated connections open now.
func (s *Server) ActiveConnections() int64 { return s.active.Load() }

func (s *Server) cfg() *config.Config { return s.env.Deps().Config() }

// Serve accepts connections on ln until ctx is cancelled, then closes ln and waits for the
// connections to end (they are closed too).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		s.closeOne.Do(func() { close(s.closing) })
		_ = ln.Close() // stopping: Accept returns the error that ends the loop
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.closing:
				s.conns.Wait()
				return nil
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				// Closed by someone else: nothing will ever be accepted again.
				s.conns.Wait()
				return fmt.Errorf("accept: %w", err)
			}
			// Never fatal (out of descriptors, a connection reset before accept …): every
			// running session goes on; back off as net/http's server does, then retry.
			delay = AcceptBackoff(delay)
			s.stats.AcceptErrors.Add(1)
			s.log.Error("accept failed; retrying", "err", err, "retry_in", delay,
				"sessions", s.sessions.Load(), "connections", s.active.Load())
			select {
			case <-time.After(delay):
			case <-s.closing:
			}
			continue
		}
		delay = 0
		s.stats.Accepted.Add(1)
		// Behind a balancer (proxyProtocolFrom), the client is the header's (proxyproto.go).
		var proxied bool
		if nc, proxied = s.proxyAccept(ctx, nc); proxied {
			continue
		}
		// Per source first, so that one address cannot fill the global maxStartups.
		verdict, endSource := s.admitSource(nc.RemoteAddr())
		switch verdict {
		case SourceRefuseStartups:
			s.stats.PerSourceRefused.Add(1)
			_ = nc.Close() // refused before SSH: nothing to report
			continue
		case SourceRefusePenalty:
			s.stats.PenaltyRefused.Add(1)
			_ = nc.Close() // refused before SSH: nothing to report
			continue
		}
		if s.dropStartup() {
			s.stats.DroppedStartups.Add(1)
			endSource(SourceNoAuth)
			_ = nc.Close() // refused before SSH: nothing to report
			continue
		}
		s.unauth.Add(1) // counted here, not in the goroutine, so a burst sees its own size
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			s.handleConn(ctx, nc, endSource)
		}()
	}
}

// AcceptBackoff is the wait before retrying after a failed accept, given the previous one (0
// after a success): 5 ms, doubling up to 1 s, as net/http's Server.
func AcceptBackoff(prev time.Duration) time.Duration {
	const first, most = 5 * time.Millisecond, time.Second
	if prev <= 0 {
		return first
	}
	return min(2*prev, most)
}

// dropStartup applies MaxStartups to a new unauthenticated connection.
func (s *Server) dropStartup() bool {
	ms, err := config.ParseMaxStartups(s.cfg().MaxStartups)
	if err != nil {
		return true // validated at load; fail closed if it is not
	}
	n := int(s.unauth.Load())
	switch {
	case n >= ms.Full:
		return true
	case n < ms.Start:
		return false
	}
	p := ms.Rate + (100-ms.Rate)*(n-ms.Start)/max(1, ms.Full-ms.Start)
	return rand.IntN(100) < p
}

// connAttempts counts one connection's refused authentication attempts, for its source's
// penalty.
type connAttempts struct {
	failed    atomic.Int64
	user      atomic.Pointer[string] // the name the client last asked for, for the log
	storeDown atomic.Bool            // an attempt was refused because the store did not answer
}

// outcome is how a connection that did not authenticate ended.
func (a *connAttempts) outcome(err error) SourceEvent {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return SourceGraceExceeded
	case a.failed.Load() > 0:
		return SourceAuthFail
	case a.storeDown.Load():
		return SourceUnavailable
	}
	return SourceNoAuth
}

func (s *Server) serverConfig(ctx context.Context, attempts *connAttempts) *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{
		Config:        ssh.Config{Ciphers: s.cfg().Ciphers, KeyExchanges: s.cfg().KexAlgorithms, MACs: s.cfg().MACs},
		MaxAuthTries:  6,
		ServerVersion: serverVersion,
		PublicKeyCallback: func(conn ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			return s.offeredKey(ctx, conn, key)
		},
		VerifiedPublicKeyCallback: func(conn ssh.ConnMetadata, key ssh.PublicKey, perms *ssh.Permissions, _ string) (*ssh.Permissions, error) {
			return s.verifiedKey(ctx, conn, key, perms)
		},
		AuthLogCallback: func(conn ssh.ConnMetadata, method string, err error) {
			if meta, perr := asAccount(conn); perr == nil {
				conn = meta // the account, without the target its name may carry
			}
			if errors.Is(err, errStoreDown) {
				// Not the client's fault: no penalty for its source (a whole office behind one
				// address would otherwise be locked out after an outage).
				attempts.storeDown.Store(true)
			} else if err != nil && method != "none" {
				attempts.failed.Add(1)
				u := conn.User()
				attempts.user.Store(&u)
			}
			if s.AuthEvent != nil && method != "none" {
				s.AuthEvent(conn, method, err)
			}
			if err != nil && method != "none" {
				s.log.Debug("auth attempt failed", "user", conn.User(), "remote", conn.RemoteAddr().String(), "method", method, "err", err)
			}
		},
	}
	// The methods offered are the same for every name, existing or not, so that they tell no
	// account apart: the client's first "none" request never succeeds (NoClientAuthCallback
	// only answers with the methods to use), then publickey, and keyboard-interactive when
	// second factors are configured. Only accounts whose key is optional can pass the latter;
	// the Authenticator answers every other name with the same prompts and refusal.
	cfg.NoClientAuth = true
	cfg.NoClientAuthCallback = func(conn ssh.ConnMetadata) (*ssh.Permissions, error) {
		conn, err := asAccount(conn)
		if err != nil {
			// A target in the user name that does not parse: say why once (OpenSSH prints the
			// banner), then refuse every method as for an unknown name.
			s.log.Info("bad target in the user name", "remote", conn.RemoteAddr().String(), "err", err)
			return nil, &ssh.BannerError{Err: errAuth, Message: "gatehouse: bad user name: " + err.Error() + "\nUse ACCOUNT:USER@HOST[:PORT] (an IPv6 address with a port in brackets).\n"}
		}
		next := ssh.ServerAuthCallbacks{PublicKeyCallback: cfg.PublicKeyCallback}
		if s.Auth != nil {
			next.KeyboardInteractiveCallback = s.lazyKeyboardInteractive(ctx, conn)
		}
		return nil, &ssh.PartialSuccessError{Next: next}
	}
	for _, k := range offeredHostKeys(s.hostKeys, s.cfg().HostKeyAlgorithms) {
		cfg.AddHostKey(k)
	}
	return cfg
}

var errAuth = errors.New("authentication refused")

// errStoreDown refuses an attempt because the store did not answer.
var errStoreDown = fmt.Errorf("%w: the store does not answer", errAuth)

// refuseKeyboardInteractive stands in when an Authenticator gives no callback: the method is
// still offered to every name, and refused.
// accountKeyboardInteractive gives a keyboard-interactive callback the account, not the target
// the user name may carry (the callbacks get the connection's metadata again when they run).
func accountKeyboardInteractive(cb func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error)) func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
	if cb == nil {
		return nil
	}
	return func(conn ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
		conn, err := asAccount(conn)
		if err != nil {
			return nil, errAuth
		}
		return cb(conn, client)
	}
}

func refuseKeyboardInteractive(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
	return nil, errAuth
}

// lazyKeyboardInteractive is the keyboard-interactive method of a connection whose user conn
// names (the account, as asAccount gives it). The account and its factors are read when the
// client first tries the method, not when it sends its "none" request: a client with a key (the
// OpenSSH client, any script) logs in with publickey and never tries it, and so saves two store
// reads (the account, its factors) on every login. The decision is then made once per
// connection, as it was at "none", and from the store as it is when the method is tried.
func (s *Server) lazyKeyboardInteractive(ctx context.Context, conn ssh.ConnMetadata) func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
	var (
		decided bool
		cb      func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error)
		err     error
	)
	return func(c ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
		// x/crypto runs a connection's authentication callbacks on one goroutine, in turn.
		if !decided {
			decided = true
			a, lerr := s.lookupAccount(ctx, conn.User())
			cb, err = keyboardInteractiveFor(conn, a, lerr, s.Auth)
		}
		if err != nil {
			return nil, err
		}
		return cb(c, client)
	}
}

// keyboardInteractiveFor decides the keyboard-interactive callback of conn's user from what the
// store answered about the account (a, lookupErr, as lookupAccount returns them). A store that
// did not answer refuses with its banner (errStoreDown), and no prompt: nothing can be checked.
// A name with no account (or an invalid one) is handed to the Authenticator as the empty account,
// which answers it as one that needs a key (decoy prompts, then a refusal); a nil callback from
// the Authenticator refuses at once. Every callback it returns reads the account through
// asAccount at each call.
func keyboardInteractiveFor(conn ssh.ConnMetadata, a store.Account, lookupErr error, auth Authenticator) (func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error), error) {
	if errors.Is(lookupErr, errStoreDown) {
		return nil, lookupErr
	}
	if lookupErr != nil || auth == nil {
		a = store.Account{} // no such account: answered as one that needs a key
	}
	if auth == nil {
		return refuseKeyboardInteractive, nil
	}
	if cb := accountKeyboardInteractive(auth.WithoutPublicKey(conn, a)); cb != nil {
		return cb, nil
	}
	return refuseKeyboardInteractive, nil
}

func (s *Server) lookupAccount(ctx context.Context, name string) (store.Account, error) {
	if access.ValidateAccountName(name) != nil {
		return store.Account{}, errAuth
	}
	a, err := s.env.Deps().Store.GetAccount(ctx, name)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		// The store does not answer (the shared PostgreSQL is down): refuse, and say why. The
		// banner is the same for every name, so it tells no account apart.
		s.log.Error("store unavailable: login refused", "user", name, "err", err)
		return store.Account{}, &ssh.BannerError{Err: errStoreDown, Message: StoreDownBanner}
	}
	if err != nil {
		return store.Account{}, errAuth
	}
	return a, nil
}

// StoreDownBanner is what a client is shown when its login is refused because the store does
// not answer.
const StoreDownBanner = "gatehouse: the bastion's state store does not answer; new logins are refused until it is back (sessions already open go on). Try again in a moment.\n"

// offeredKey answers "would this key be accepted?"; nothing is bound yet.
func (s *Server) offeredKey(ctx context.Context, conn ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	conn, err := asAccount(conn)
	if err != nil {
		return nil, errAuth
	}
	a, err := s.lookupAccount(ctx, conn.User())
	if err != nil {
		return nil, err
	}
	fp := ssh.FingerprintSHA256(key)
	k, err := s.env.Deps().Store.FindIngressKey(ctx, a.Name, fp)
	if err != nil {
		return nil, errAuth
	}
	if !sshkey.FromAllows(k.From, remoteIP(conn.RemoteAddr())) {
		s.log.Info("key refused by its from= restriction", "account", a.Name, "key", fp, "remote", conn.RemoteAddr().String())
		return nil, errAuth
	}
	return &ssh.Permissions{Extensions: map[string]string{extAccount: a.Name, extKey: fp, extAccountID: a.ID}}, nil
}

// verifiedKey runs only after the client proved it holds the key: this is where the account is
// bound, and where second factors are chained.
func (s *Server) verifiedKey(ctx context.Context, conn ssh.ConnMetadata, key ssh.PublicKey, perms *ssh.Permissions) (*ssh.Permissions, error) {
	ut, err := ParseUserTarget(conn.User())
	if err != nil {
		return nil, errAuth
	}
	conn, err = asAccount(conn)
	if err != nil {
		return nil, errAuth
	}
	if perms == nil || perms.Extensions[extKey] != ssh.FingerprintSHA256(key) || perms.Extensions[extAccount] != conn.User() {
		return nil, errAuth
	}
	a, err := s.lookupAccount(ctx, conn.User())
	if err != nil {
		return nil, err
	}
	perms.Extensions[extVerified] = "1"
	p, err := perms, error(nil)
	if s.Auth != nil {
		p, err = s.Auth.AfterPublicKey(conn, a, perms)
		var partial *ssh.PartialSuccessError
		if errors.As(err, &partial) {
			partial.Next.KeyboardInteractiveCallback = accountKeyboardInteractive(partial.Next.KeyboardInteractiveCallback)
		}
	}
	if ut.HasTarget() {
		// The target in the user name: its JIT factors are asked now, after the login's own.
		return s.withTargetFactors(ctx, conn, a, ut.User, ut.Target, p, err)
	}
	return p, err
}

func remoteIP(addr net.Addr) net.IP {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.IP
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return nil
	}
	return net.ParseIP(host)
}

// MarkFactorsOK is for Authenticator implementations: it records on perms that every factor
// the account needs was checked, which a session requires when the key alone was not enough.
func MarkFactorsOK(perms *ssh.Permissions) *ssh.Permissions {
	if perms.Extensions == nil {
		perms.Extensions = map[string]string{}
	}
	perms.Extensions[extFactors] = "1"
	return perms
}

// NewFactorPermissions is for pubkey-optional logins: factors only, no key.
func NewFactorPermissions(account string) *ssh.Permissions {
	return MarkFactorsOK(&ssh.Permissions{Extensions: map[string]string{extAccount: account}})
}

// panicked is the recovery point's report: a panic in one connection's handling ended that
// connection only. It logs the account and the stack, counts it, and tells OnPanic.
func (s *Server) panicked(account string, remote net.Addr, p *crash.Panic) {
	s.stats.Panics.Add(1)
	s.log.Error("panic in a connection's handling: that connection is closed, the others go on",
		"account", account, "remote", fmt.Sprint(remote), "panic", fmt.Sprint(p.Value), "stack", string(p.Stack))
	if s.OnPanic != nil {
		if q := crash.Catch(func() { s.OnPanic(account, p.Value, p.Stack) }); q != nil {
			s.log.Error("panic in the OnPanic hook", "panic", fmt.Sprint(q.Value), "stack", string(q.Stack))
		}
	}
}

func (s *Server) handleConn(ctx context.Context, nc net.Conn, endSource func(SourceEvent)) {
	// The recovery point of this connection: every goroutine of it ends here or carries its
	// panic here (internal/crash). Deferred first, so it runs after the connection's own
	// defers have closed it.
	account := "" // set once authenticated
	defer crash.Recover(func(p *crash.Panic) { s.panicked(account, nc.RemoteAddr(), p) })
	counted := true
	release := func() {
		if counted {
			s.unauth.Add(-1)
			counted = false
		}
	}
	defer release()
	defer endSource(SourceAuthFail) // a panic during authentication counts as a failure
	// The connection is over: a close error has nothing left to report.
	defer func() { _ = nc.Close() }()
	nc = newQuickAckConn(nc)
	_ = nc.SetDeadline(time.Now().Add(time.Duration(s.cfg().LoginGraceTime) * time.Second))
	var attempts connAttempts
	// Each SSH packet in one write (joinwrites.go); nc stays the wrapper quickAck knows.
	sconn, chans, reqs, err := ssh.NewServerConn(newJoinConn(nc), s.serverConfig(ctx, &attempts))
	if err != nil {
		s.stats.AuthFailed.Add(1)
		endSource(attempts.outcome(err))
		// A connection that tried and failed is a refused login: operators look for those in
		// the log as in sshd's. One that never tried (a scanner, ssh-audit) stays at debug.
		if u := attempts.user.Load(); u != nil {
			s.log.Info("login refused", "user", *u, "remote", nc.RemoteAddr().String(), "failed_attempts", attempts.failed.Load(), "err", err)
		} else {
			s.log.Debug("connection closed before authentication", "remote", nc.RemoteAddr().String(), "err", err)
		}
		return
	}
	endSource(SourceAuthOK)
	release()
	stopQuickAck(nc)
	_ = nc.SetDeadline(time.Time{})
	defer func() { _ = sconn.Close() }() // the connection is over: nothing left to report
	// Fail closed: the session needs a verified key or a completed factor-only login.
	ext := sconn.Permissions.Extensions
	ut, err := ParseUserTarget(sconn.User())
	if err != nil || ext[extAccount] != ut.Account || (ext[extVerified] != "1" && ext[extFactors] != "1") {
		s.log.Error("connection without a verified identity, closing", "user", sconn.User())
		return
	}
	if ext[extAccountID] == "" { // a factor-only login: bind the account as it is now
		a, err := s.lookupAccount(ctx, ut.Account)
		if err != nil {
			return
		}
		ext[extAccountID] = a.ID
	}
	account = ut.Account
	s.stats.AuthOK.Add(1)
	s.active.Add(1)
	defer s.active.Add(-1)
	s.log.Info("login", "account", account, "remote", sconn.RemoteAddr().String(), "key", ext[extKey], "target", ut.Target.Host)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Close the connection when the server stops; AfterFunc holds no goroutine while waiting
	// (1,000 idle connections would otherwise hold 1,000 stacks).
	stop := context.AfterFunc(cctx, func() { _ = sconn.Close() }) // the server stops: nothing to report
	defer stop()
	sessions := s.channels(sconn, account, sconn.RemoteAddr())
	if ut.HasTarget() {
		// A target in the user name: ssh -R asks that target to listen (rforward.go), and its
		// goroutine answers every global request, in order.
		rf := s.newRemoteForwards(cctx, nil, sconn, sconn, ut.User, ut.Target, answeredFrom(withAnswered(cctx, sconn.Permissions)))
		go rf.serve(reqs)
		defer rf.close()
		reqs = nil
	}
	// One goroutine serves both the global requests (all refused: keepalives get their "no")
	// and the channel opens, until the connection ends.
	refusedForwards, closing := 0, false
	for chans != nil {
		select {
		case req, ok := <-reqs:
			if !ok {
				reqs = nil
				continue
			}
			if req.Type == "tcpip-forward" { // ssh -R: nothing listens on the bastion for a user
				f := audit.Fields{Allowed: audit.Bool(false), Extra: map[string]string{"direction": "remote"},
					Comment: "remote forwarding (-R) needs a target: use ProxyJump (ssh -J) or the target in the user name, with a --remote-forward grant"}
				decide, closeNow := refusedForwardVerdict(refusedForwards, closing)
				refusedForwards++
				if closeNow { // a flood of audit entries (refusedforwards.go)
					closing = true
					f.Comment = tooManyRefusedForwards
					_ = sconn.Close() // the reqs and chans channels close: the loop ends
				}
				if decide || closeNow {
					_ = s.audit(cctx, sconn, "forward.denied", f) // refused either way
				}
			}
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		case nch, ok := <-chans:
			if !ok {
				chans = nil
				continue
			}
			if nch.ChannelType() == "direct-tcpip" && s.Jump != nil {
				// A jump is an SSH server of its own: it counts as a session of this connection.
				sessions.start(nch, func() {
					if s.forward(cctx, sconn, nch) { // a --forward grant: raw TCP, audited (forward.go)
						return
					}
					s.handleJump(cctx, sconn, nch)
				})
				continue
			}
			if nch.ChannelType() != "session" {
				_ = nch.Reject(ssh.Prohibited, "gatehouse accepts session channels only: port and agent forwarding are disabled")
				continue
			}
			sessions.serve(nch, func() bool {
				if ut.HasTarget() {
					// The target in the user name: served as a jump's inner session.
					return s.serveTargetChannel(withAnswered(cctx, sconn.Permissions), sconn, nch, ut.User, ut.Target, sessions)
				}
				return s.handleSession(cctx, sconn, nch, sessions)
			})
		}
	}
	cancel()
	sessions.wait()
}

// channels runs the channels of one SSH connection (the bastion's own, or a jump's inner one),
// each in its own goroutine, at most MaxSessions at once, and waits for them.
type channels struct {
	s       *Server
	conn    io.Closer // the connection: a channel's panic ends all of it
	account string
	remote  net.Addr
	open    atomic.Int64
	wg      sync.WaitGroup
}

// channels returns the channel runner of conn, whose panics are reported for account at remote.
func (s *Server) channels(conn io.Closer, account string, remote net.Addr) *channels {
	return &channels{s: s, conn: conn, account: account, remote: remote}
}

// start runs handle for nch, or refuses nch when MaxSessions (as configured now) are open. A
// channel's panic ends its whole connection, as the connection's own would, and is reported.
func (c *channels) start(nch ssh.NewChannel, handle func()) {
	c.serve(nch, func() bool { handle(); return false })
}

// serve is start for a handle that may lend its channel's work to another goroutine and end
// its own (a session channel's request loop, which the relay takes over while it waits:
// sessionRequests.Lend): handle then returns true, the channel stays counted, and resume runs
// the rest later under the same count and recovery.
func (c *channels) serve(nch ssh.NewChannel, handle func() (lent bool)) {
	if c.open.Load() >= int64(c.s.cfg().MaxSessions) {
		_ = nch.Reject(ssh.ResourceShortage, "too many sessions on this connection")
		return
	}
	c.open.Add(1)
	c.wg.Add(1)
	go c.run(handle)
}

// resume runs handle, the rest of a channel's work that serve's handle lent, on a goroutine of
// its own.
func (c *channels) resume(handle func() (lent bool)) { go c.run(handle) }

// run runs handle; the channel is no longer counted once it returns without lending its work.
func (c *channels) run(handle func() (lent bool)) {
	lent := false
	defer func() {
		if !lent {
			c.open.Add(-1)
			c.wg.Done()
		}
	}()
	defer crash.Recover(func(p *crash.Panic) {
		_ = c.conn.Close() // carrying the panic on is what matters
		c.s.panicked(c.account, c.remote, p)
	})
	lent = handle()
}

func (c *channels) wait() { c.wg.Wait() }
