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
//  3. Channels. Only "session" channels are accepted (no forwarding of any kind), up to
//     maxSessions per connection. pty-req, env (LANG, LC_*), window-change and signal are
//     honoured; exec or shell runs the line through the command language (internal/osh).
//  4. End. The exit status is sent, the channel closed; the connection ends when the client
//     closes it or the server shuts down (ctx cancelled).
package ingress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/access"
	"gatehouse/internal/config"
	"gatehouse/internal/osh"
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
	// nil callbacks mean "refuse".
	WithoutPublicKey(conn ssh.ConnMetadata, account store.Account) func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error)
}

// Tracker records and audits sessions. Begin runs before the line is served and may wrap the
// session's writers; a Begin error refuses the session (fail closed).
type Tracker interface {
	Begin(ctx context.Context, s *osh.Session, line string) (SessionTrack, error)
}

// SessionTrack follows one session: its window changes, then its end.
type SessionTrack interface {
	Resize(cols, rows int)
	End(ctx context.Context, s *osh.Session, exitStatus int)
}

// Server is the SSH server. Create it with New; Serve may be called once.
type Server struct {
	env      *osh.Env
	hostKeys []ssh.Signer
	log      *slog.Logger
	// Auth, when set, adds second factors after the public key.
	Auth Authenticator
	// RoleHook, when set, completes an account's roles (group roles) at session start.
	RoleHook func(ctx context.Context, a store.Account, r *osh.Roles)
	// Tracker, when set, records and audits every session.
	Tracker Tracker
	// Running, when set, registers every session under its account's immutable id, so that a
	// freeze or a deletion ends it at once (internal/running).
	Running interface {
		Add(accountID, sessionID string, end func(reason string, exit int)) (remove func())
	}
	// AuthEvent, when set, hears every authentication attempt (method, success) for audit and
	// metrics; it is never given a secret.
	AuthEvent func(conn ssh.ConnMetadata, method string, err error)

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
}

// New returns a server that runs lines through env.
func New(env *osh.Env, hostKeys []ssh.Signer, log *slog.Logger) *Server {
	return &Server{env: env, hostKeys: hostKeys, log: log, closing: make(chan struct{})}
}

// Stats returns the server's counters.
func (s *Server) Stats() *Stats { return &s.stats }

// ActiveSessions is the number of session channels open now.
func (s *Server) ActiveSessions() int64 { return s.sessions.Load() }

// ActiveConnections is the number of authenticated connections open now.
func (s *Server) ActiveConnections() int64 { return s.active.Load() }

func (s *Server) cfg() *config.Config { return s.env.Config() }

// Serve accepts connections on ln until ctx is cancelled, then closes ln and waits for the
// connections to end (they are closed too).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	go func() {
		<-ctx.Done()
		s.closeOne.Do(func() { close(s.closing) })
		ln.Close()
	}()
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.closing:
				s.conns.Wait()
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		s.stats.Accepted.Add(1)
		if s.dropStartup() {
			s.stats.DroppedStartups.Add(1)
			nc.Close()
			continue
		}
		s.unauth.Add(1) // counted here, not in the goroutine, so a burst sees its own size
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			s.handleConn(ctx, nc)
		}()
	}
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

func (s *Server) serverConfig(ctx context.Context) *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{
		Config:        ssh.Config{Ciphers: s.cfg().Ciphers},
		MaxAuthTries:  6,
		ServerVersion: "SSH-2.0-gatehouse",
		PublicKeyCallback: func(conn ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			return s.offeredKey(ctx, conn, key)
		},
		VerifiedPublicKeyCallback: func(conn ssh.ConnMetadata, key ssh.PublicKey, perms *ssh.Permissions, _ string) (*ssh.Permissions, error) {
			return s.verifiedKey(ctx, conn, key, perms)
		},
		AuthLogCallback: func(conn ssh.ConnMetadata, method string, err error) {
			if s.AuthEvent != nil && method != "none" {
				s.AuthEvent(conn, method, err)
			}
			if err != nil && method != "none" {
				s.log.Debug("auth attempt failed", "user", conn.User(), "remote", conn.RemoteAddr().String(), "method", method, "err", err)
			}
		},
	}
	// The methods offered depend on the account, as sshd's Match blocks make them: the client's
	// first "none" request never succeeds (NoClientAuthCallback only answers with the methods
	// to use), publickey for everyone, keyboard-interactive alone only for accounts whose key is
	// optional. Other accounts then see "Permission denied (publickey)" as with The Bastion.
	cfg.NoClientAuth = true
	cfg.NoClientAuthCallback = func(conn ssh.ConnMetadata) (*ssh.Permissions, error) {
		next := ssh.ServerAuthCallbacks{PublicKeyCallback: cfg.PublicKeyCallback}
		if s.Auth != nil {
			if a, err := s.lookupAccount(ctx, conn.User()); err == nil {
				if cb := s.Auth.WithoutPublicKey(conn, a); cb != nil {
					next.KeyboardInteractiveCallback = cb
				}
			}
		}
		return nil, &ssh.PartialSuccessError{Next: next}
	}
	for _, k := range s.hostKeys {
		cfg.AddHostKey(k)
	}
	return cfg
}

var errAuth = errors.New("authentication refused")

func (s *Server) lookupAccount(ctx context.Context, name string) (store.Account, error) {
	if access.ValidateAccountName(name) != nil {
		return store.Account{}, errAuth
	}
	a, err := s.env.Store.GetAccount(ctx, name)
	if err != nil {
		return store.Account{}, errAuth
	}
	return a, nil
}

// offeredKey answers "would this key be accepted?"; nothing is bound yet.
func (s *Server) offeredKey(ctx context.Context, conn ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	a, err := s.lookupAccount(ctx, conn.User())
	if err != nil {
		return nil, err
	}
	fp := ssh.FingerprintSHA256(key)
	k, err := s.env.Store.FindIngressKey(ctx, a.Name, fp)
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
	if perms == nil || perms.Extensions[extKey] != ssh.FingerprintSHA256(key) || perms.Extensions[extAccount] != conn.User() {
		return nil, errAuth
	}
	a, err := s.lookupAccount(ctx, conn.User())
	if err != nil {
		return nil, err
	}
	perms.Extensions[extVerified] = "1"
	if s.Auth != nil {
		return s.Auth.AfterPublicKey(conn, a, perms)
	}
	return perms, nil
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

func (s *Server) handleConn(ctx context.Context, nc net.Conn) {
	counted := true
	release := func() {
		if counted {
			s.unauth.Add(-1)
			counted = false
		}
	}
	defer release()
	defer nc.Close()
	nc = newQuickAckConn(nc)
	_ = nc.SetDeadline(time.Now().Add(time.Duration(s.cfg().LoginGraceTime) * time.Second))
	sconn, chans, reqs, err := ssh.NewServerConn(nc, s.serverConfig(ctx))
	if err != nil {
		s.stats.AuthFailed.Add(1)
		return
	}
	release()
	stopQuickAck(nc)
	_ = nc.SetDeadline(time.Time{})
	defer sconn.Close()
	// Fail closed: the session needs a verified key or a completed factor-only login.
	ext := sconn.Permissions.Extensions
	if ext[extAccount] != sconn.User() || (ext[extVerified] != "1" && ext[extFactors] != "1") {
		s.log.Error("connection without a verified identity, closing", "user", sconn.User())
		return
	}
	if ext[extAccountID] == "" { // a factor-only login: bind the account as it is now
		a, err := s.lookupAccount(ctx, sconn.User())
		if err != nil {
			return
		}
		ext[extAccountID] = a.ID
	}
	s.stats.AuthOK.Add(1)
	s.active.Add(1)
	defer s.active.Add(-1)
	s.log.Info("login", "account", sconn.User(), "remote", sconn.RemoteAddr().String(), "key", ext[extKey])
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Close the connection when the server stops; AfterFunc holds no goroutine while waiting
	// (1,000 idle connections would otherwise hold 1,000 stacks).
	stop := context.AfterFunc(cctx, func() { sconn.Close() })
	defer stop()
	var sessions sync.WaitGroup
	var open atomic.Int64
	// One goroutine serves both the global requests (all refused: keepalives get their "no")
	// and the channel opens, until the connection ends.
	for chans != nil {
		select {
		case req, ok := <-reqs:
			if !ok {
				reqs = nil
				continue
			}
			if req.WantReply {
				_ = req.Reply(false, nil)
			}
		case nch, ok := <-chans:
			if !ok {
				chans = nil
				continue
			}
			if nch.ChannelType() != "session" {
				_ = nch.Reject(ssh.Prohibited, "gatehouse accepts session channels only: port and agent forwarding are disabled")
				continue
			}
			if open.Load() >= int64(s.cfg().MaxSessions) {
				_ = nch.Reject(ssh.ResourceShortage, "too many sessions on this connection")
				continue
			}
			open.Add(1)
			sessions.Add(1)
			go func() {
				defer sessions.Done()
				defer open.Add(-1)
				s.handleSession(cctx, sconn, nch)
			}()
		}
	}
	cancel()
	sessions.Wait()
}
