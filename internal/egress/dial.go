package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// ExitStatus is what a failed egress connection exits with, as OpenSSH's
// client does (and The Bastion passes through).
const ExitStatus = 255

// Target is where to connect.
type Target struct {
	User string // remote user
	Host string // IP address (or a name, resolved here) to dial
	Port int    // 0 means 22
}

func (t Target) addr() string {
	port := t.Port
	if port == 0 {
		port = 22
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(port))
}

// Reason classifies why a dial failed, so the caller can pick a message,
// an audit tag (The Bastion's comment_close tags) and an exit status.
type Reason string

const (
	ReasonRefused         Reason = "connection_refused"
	ReasonTimeout         Reason = "timeout"
	ReasonUnreachable     Reason = "unreachable"
	ReasonDNS             Reason = "dns"
	ReasonAuth            Reason = "permission_denied"
	ReasonHostKeyChanged  Reason = "hostkey_changed"
	ReasonHostKeyUnknown  Reason = "hostkey_unknown"
	ReasonHostKeyStore    Reason = "hostkey_store"
	ReasonProtocol        Reason = "protocol_error"
	ReasonCanceled        Reason = "canceled"
	ReasonNoKeys          Reason = "no_keys"
	ReasonInvalidArgument Reason = "invalid_argument"
)

// DialError is every error Dial returns. Its message reads like OpenSSH's
// and names the target; Reason says what kind of failure it was.
type DialError struct {
	Target Target
	Reason Reason
	Err    error
}

func (e *DialError) Error() string {
	port := e.Target.Port
	if port == 0 {
		port = 22
	}
	switch e.Reason {
	case ReasonAuth:
		return fmt.Sprintf("%s@%s: Permission denied (publickey).", e.Target.User, e.Target.Host)
	case ReasonRefused:
		return fmt.Sprintf("ssh: connect to host %s port %d: Connection refused", e.Target.Host, port)
	case ReasonTimeout:
		return fmt.Sprintf("ssh: connect to host %s port %d: Connection timed out (%v)", e.Target.Host, port, e.Err)
	case ReasonUnreachable:
		return fmt.Sprintf("ssh: connect to host %s port %d: %v", e.Target.Host, port, e.Err)
	case ReasonDNS:
		return fmt.Sprintf("ssh: Could not resolve hostname %s: %v", e.Target.Host, e.Err)
	case ReasonHostKeyChanged, ReasonHostKeyUnknown:
		return e.Err.Error()
	}
	return fmt.Sprintf("ssh: %s port %d: %v", e.Target.Host, port, e.Err)
}

func (e *DialError) Unwrap() error { return e.Err }

// Dialer holds the knobs of Dial. The zero value is ready to use.
type Dialer struct {
	// DialTimeout bounds the TCP connect (default 10s).
	DialTimeout time.Duration
	// HandshakeTimeout bounds everything after the TCP connect up to an
	// authenticated client: version exchange, key exchange, host key check,
	// authentication and banners (default 20s). A target that never answers
	// or floods us fails within it.
	HandshakeTimeout time.Duration
	// KeyExchanges, Ciphers, MACs restrict algorithms (nil: x/crypto's
	// defaults). Benchmarks pin curve25519-sha256 here.
	KeyExchanges, Ciphers, MACs []string
	// Banner, when set, receives the target's authentication banner (what
	// OpenSSH prints on stderr), at most maxBanner bytes in total.
	Banner func(message string)
	// ClientVersion overrides the version string sent to the target.
	ClientVersion string
	// Passwords, when set, log in with the password method instead of keys ("SSH with password
	// autologin", -P / --password GROUP): each is tried in turn, the current one first, then
	// its fallbacks. The signers are then not offered.
	Passwords []string
	// PasswordDelay is the wait before each password after the first (The Bastion's
	// --fallback-password-delay, 3 s by default there and in the connector): a target that
	// counts failures in a short window gets them spread out.
	PasswordDelay time.Duration
	// KeyboardInteractive, when set, answers a target's keyboard-interactive questions after
	// the publickey method (a target with `AuthenticationMethods publickey,keyboard-interactive`
	// whose PAM stack asks for the session's ticket and a factor; docs/pam.md). While it runs,
	// the handshake's deadline is lifted: a person may be typing; the callback bounds its waits.
	KeyboardInteractive func(ctx context.Context, name, instruction string, questions []string, echos []bool) ([]string, error)
	// Channels, when set, is handed every channel the target opens towards us (the
	// forwarded-tcpip channels of a remote forward, ssh -R); it must answer each without
	// blocking. Nil: every channel is refused.
	Channels func(ssh.NewChannel)
}

const maxBanner = 64 << 10

// Dial connects with the zero Dialer.
func Dial(ctx context.Context, t Target, signers []ssh.Signer, hk HostKeyPolicy) (ssh.Conn, error) {
	var d Dialer
	return d.Dial(ctx, t, signers, hk)
}

// Dial opens an authenticated SSH connection to t, offering every signer
// in order through one publickey method (as OpenSSH offers each -i key in
// turn). The returned client must be closed by the caller. Cancelling ctx
// aborts the dial at any stage; once Dial has returned, ctx no longer
// affects the client. All errors are *DialError.
func (d *Dialer) Dial(ctx context.Context, t Target, signers []ssh.Signer, hk HostKeyPolicy) (ssh.Conn, error) {
	fail := func(r Reason, err error) (ssh.Conn, error) {
		return nil, &DialError{Target: t, Reason: r, Err: err}
	}
	if t.User == "" || t.Host == "" || t.Port < 0 || t.Port > 65535 {
		return fail(ReasonInvalidArgument, errors.New("target needs a user, a host and a port between 1 and 65535"))
	}
	if len(signers) == 0 && len(d.Passwords) == 0 {
		return fail(ReasonNoKeys, errors.New("no egress key to offer: generate one (selfGenerateEgressKey or groupGenerateEgressKey)"))
	}
	check, err := newHostKeyCheck(ctx, hk, t.addr())
	if err != nil {
		return fail(ReasonHostKeyStore, err)
	}

	dialTimeout := orDefault(d.DialTimeout, 10*time.Second)
	nd := net.Dialer{Timeout: dialTimeout}
	conn, err := nd.DialContext(ctx, "tcp", t.addr())
	if err != nil {
		return fail(classifyNetError(ctx, err), err)
	}

	handshakeTimeout := orDefault(d.HandshakeTimeout, 20*time.Second)
	// The deadline makes every blocked read or write of the handshake fail
	// by itself; the watcher closes the socket early if ctx ends first.
	_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
	stop := make(chan struct{})
	var watcher sync.WaitGroup
	watcher.Add(1)
	go func() {
		defer watcher.Done()
		select {
		case <-ctx.Done():
			_ = conn.Close() // aborting the handshake: the dial reports ctx.Err()
		case <-stop:
		}
	}()

	var bannerBytes int
	auth := []ssh.AuthMethod{ssh.PublicKeys(signers...)}
	if len(d.Passwords) > 0 {
		next := 0
		auth = []ssh.AuthMethod{ssh.RetryableAuthMethod(ssh.PasswordCallback(func() (string, error) {
			if next >= len(d.Passwords) {
				return "", errors.New("no more passwords to try")
			}
			if next > 0 && d.PasswordDelay > 0 {
				// The handshake deadline covers this wait: lift it meanwhile, as for a person.
				_ = conn.SetDeadline(time.Time{})
				t := time.NewTimer(d.PasswordDelay)
				select {
				case <-ctx.Done():
					t.Stop()
					return "", ctx.Err()
				case <-t.C:
				}
				_ = conn.SetDeadline(time.Now().Add(handshakeTimeout))
			}
			next++
			return d.Passwords[next-1], nil
		}), len(d.Passwords))}
	}
	cfg := &ssh.ClientConfig{
		User:              t.User,
		Auth:              auth,
		HostKeyCallback:   check.callback(ctx),
		HostKeyAlgorithms: check.algorithms(),
		ClientVersion:     d.ClientVersion,
		BannerCallback: func(msg string) error {
			if d.Banner != nil && bannerBytes < maxBanner {
				if len(msg) > maxBanner-bannerBytes {
					msg = msg[:maxBanner-bannerBytes]
				}
				bannerBytes += len(msg)
				d.Banner(msg)
			}
			return nil
		},
	}
	cfg.KeyExchanges, cfg.Ciphers, cfg.MACs = d.KeyExchanges, d.Ciphers, d.MACs
	if d.KeyboardInteractive != nil {
		cfg.Auth = append(cfg.Auth, ssh.KeyboardInteractive(func(name, instruction string, questions []string, echos []bool) ([]string, error) {
			_ = conn.SetDeadline(time.Time{})
			defer func() { _ = conn.SetDeadline(time.Now().Add(handshakeTimeout)) }()
			return d.KeyboardInteractive(ctx, name, instruction, questions, echos)
		}))
	}

	// Reads through burstConn; each SSH packet written in one writev (internal/sshwrite). The
	// target's sshd writes without TCP_NODELAY (until a session has a terminal) and sends two
	// packets in a row several times, at the key exchange's end, after authentication, at a
	// channel's open and at a command's exit: Nagle holds the second until we acknowledge the
	// first, which Linux delays by up to 40 ms. So burstConn sets TCP_QUICKACK before each read
	// that may wait (internal/quickack), for the connection's whole life: the stalls at a
	// command's exit come after the session.
	c, chans, reqs, err := ssh.NewClientConn(newBurstConn(conn), t.addr(), cfg)
	close(stop)
	watcher.Wait()
	if err == nil && ctx.Err() != nil {
		// ctx ended as the handshake finished: the watcher may have closed conn.
		_ = c.Close() // ctx.Err() is the error to report
		err = ctx.Err()
	}
	if err != nil {
		_ = conn.Close() // the handshake error is the one to report
		return fail(classifyHandshakeError(ctx, err), err)
	}
	_ = conn.SetDeadline(time.Time{})
	return newRefusingConn(c, chans, reqs, d.Channels), nil
}

// refusingConn is the connection Dial returns: x/crypto's client connection, whose channel
// opens and global requests from the target (forwarding back into the bastion, keepalives) are
// all refused. x/crypto queues them in small channels and stalls the whole connection when one
// is full, so someone must always answer them: a goroutine of their own (one instead of
// ssh.NewClient's two), or, while a session runs on the connection, RunSession's own loop,
// which takes them over (takeOver) and hands them back (handBack) before it waits for its
// readers. An idle relayed session so holds one goroutine fewer.
type refusingConn struct {
	ssh.Conn
	// chans and reqs are read only by whoever answers them now (the goroutine, or the session
	// that took them over); nil once x/crypto has closed them.
	chans <-chan ssh.NewChannel
	reqs  <-chan *ssh.Request

	// accept, when set (Dialer.Channels: a remote forward's connection), is handed every
	// channel the target opens instead of refusing it; such a connection is never taken over.
	accept func(ssh.NewChannel)

	mu      sync.Mutex    // held while taking over, so one session at a time does
	stop    chan struct{} // the goroutine ends when a session sends on it
	stopped chan struct{} // closed when the goroutine has ended (stopped, or both streams closed)
}

func newRefusingConn(c ssh.Conn, chans <-chan ssh.NewChannel, reqs <-chan *ssh.Request, accept func(ssh.NewChannel)) *refusingConn {
	rc := &refusingConn{Conn: c, chans: chans, reqs: reqs, accept: accept, stop: make(chan struct{})}
	rc.start()
	return rc
}

// start runs the refusing goroutine until a session takes over or x/crypto closes both streams.
func (rc *refusingConn) start() {
	rc.stopped = make(chan struct{})
	stopped := rc.stopped
	go func() {
		defer close(stopped)
		for rc.chans != nil || rc.reqs != nil {
			select {
			case <-rc.stop:
				return
			case nch, ok := <-rc.chans:
				if !ok {
					rc.chans = nil
					continue
				}
				if rc.accept != nil {
					rc.accept(nch)
					continue
				}
				refuseChannel(nch)
			case req, ok := <-rc.reqs:
				if !ok {
					rc.reqs = nil
					continue
				}
				refuseRequest(req)
			}
		}
	}()
}

// takeOver stops the refusing goroutine and returns the streams for the caller to answer, with
// a handBack that must be called (once) when the caller stops answering them. ok is false when
// another session holds them or both streams are already closed: nothing to take over.
func (rc *refusingConn) takeOver() (chans <-chan ssh.NewChannel, reqs <-chan *ssh.Request, handBack func(chans <-chan ssh.NewChannel, reqs <-chan *ssh.Request), ok bool) {
	if rc.accept != nil || !rc.mu.TryLock() {
		return nil, nil, nil, false
	}
	select {
	case rc.stop <- struct{}{}:
	case <-rc.stopped: // both streams closed: the connection is over
		rc.mu.Unlock()
		return nil, nil, nil, false
	}
	<-rc.stopped // the goroutine no longer touches chans and reqs
	handBack = func(chans <-chan ssh.NewChannel, reqs <-chan *ssh.Request) {
		rc.chans, rc.reqs = chans, reqs
		rc.start()
		rc.mu.Unlock()
	}
	return rc.chans, rc.reqs, handBack, true
}

// refuseChannel refuses a channel the target opens: nothing forwards back into the bastion.
func refuseChannel(nch ssh.NewChannel) {
	_ = nch.Reject(ssh.Prohibited, "the bastion accepts no channel from a target")
}

// refuseRequest answers "no" to a global request of the target (a keepalive wants an answer).
func refuseRequest(req *ssh.Request) {
	if req.WantReply {
		_ = req.Reply(false, nil)
	}
}

func orDefault(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

func classifyNetError(ctx context.Context, err error) Reason {
	var dnsErr *net.DNSError
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return ReasonCanceled
	case errors.As(err, &dnsErr):
		return ReasonDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return ReasonRefused
	case isTimeout(err):
		return ReasonTimeout
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return ReasonUnreachable
	}
	return ReasonUnreachable
}

func classifyHandshakeError(ctx context.Context, err error) Reason {
	var hkErr *HostKeyError
	var storeErr *hostKeyStoreError
	switch {
	case errors.As(err, &hkErr) && hkErr.Event.Kind == HostKeyUnknownRefused:
		return ReasonHostKeyUnknown
	case errors.As(err, &hkErr):
		return ReasonHostKeyChanged
	case errors.As(err, &storeErr):
		return ReasonHostKeyStore
	case ctx.Err() != nil:
		return ReasonCanceled
	case isTimeout(err):
		return ReasonTimeout
	case strings.Contains(err.Error(), "unable to authenticate"):
		return ReasonAuth
	}
	return ReasonProtocol
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
