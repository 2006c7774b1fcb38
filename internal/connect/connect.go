// Package connect handles `[user@]host [-p port] [command]`: the bastion's main job.
//
// Lifecycle of one connection request:
//
//  1. Validate the target (remote user, host, port) and resolve the host.
//  2. Decide (internal/access) from the store's accounts, groups and personal accesses; a refusal
//     is printed with The Bastion's code and exit status, and reported to the Observer.
//  3. Second factor when any matching access requires it (the MFA hook); no hook, no access.
//  4. Print the accesses that will be tried, open every key they offer, dial the target with
//     all of them (internal/egress) under the account's host key policy.
//  5. Relay the session: pty, window changes, signals, stdin, exit status. Recording happens
//     around the whole session channel (internal/ingress's Tracker), so what the user saw before
//     a failure is recorded too.
//
// Every error before the relay ends the request with a message naming the target and the reason
// and exit status 255, as OpenSSH's client gives; the bastion itself is unaffected.
package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/access"
	"gatehouse/internal/accessdb"
	"gatehouse/internal/audit"
	"gatehouse/internal/clock"
	"gatehouse/internal/crash"
	"gatehouse/internal/egress"
	"gatehouse/internal/egresspw"
	"gatehouse/internal/netaddr"
	"gatehouse/internal/probe"
	"gatehouse/internal/refusal"
	"gatehouse/internal/seal"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
	"gatehouse/internal/ticket"
	"gatehouse/internal/transfer"
)

// Event is what the Observer hears: the open and close of a connection, refusals and host key
// decisions, with The Bastion's field names (audit.Fields; a host key decision's event,
// fingerprint, known and hostport, and a refusal's error_code, are in Extra).
type Event struct {
	Type   string // "connection.open", "connection.close", "connection.denied", "hostkey"
	Fields audit.Fields
}

// MFAFunc asks the second factors a connection requires ("password", "totp", "any" …); a non-nil
// result is a refusal.
type MFAFunc func(ctx context.Context, s *session.Session, required []string, target session.Target) *refusal.Refusal

// Env is what the relay takes from the command language around it: the shared parts (the
// configuration and the clock) and how a refusal is shown to the user. osh.Env provides it; the
// relay never depends on the command language itself.
type Env interface {
	Deps() session.Deps
	ShowRefusal(s *session.Session, r *refusal.Refusal) int
}

// Store is what the relay reads and writes: the access decision's inputs and the targets' host
// keys.
type Store interface {
	store.AccessInputs
	store.KnownHostKeys
}

// Connector connects accounts to targets. Its zero value is not usable: set Store, Sealer, Env.
type Connector struct {
	Env    Env
	Store  Store
	Sealer *seal.Sealer
	Log    *slog.Logger
	Dialer egress.Dialer
	// MFA, when nil, makes every access that requires a second factor refused (fail closed).
	MFA MFAFunc
	// Observe receives audit events (may be nil).
	// A non-nil error means the event was not recorded: a connection whose open cannot be
	// audited does not start (fail closed).
	Observe func(ctx context.Context, ev Event) error
	// Locks, when set, lets lock/unlock reach this account's relayed sessions.
	Locks *Locks
	// EndSession, when set, ends a running session from the registry (internal/running): its
	// channel is closed. An idle-killed relay whose output is still blocked on a client that
	// stopped reading is ended so (the kill alone cannot close the client's channel).
	EndSession func(accountID, sessionID, reason string, exit int) bool
	// OnDial hears how long each successful dial took (metrics; may be nil).
	OnDial func(time.Duration)
	// Ticket, when set, makes the GATEHOUSE_TICKET sent to the target as an env request, and
	// given at its keyboard-interactive ticket prompt ("" sends none): a PAM module there
	// learns who opened the session (docs/pam.md).
	Ticket func(s *session.Session, target session.Outcome) string
	// TargetPrompt, when set, asks the person the questions a target's keyboard-interactive
	// authentication asks besides the ticket (which the connector answers itself): the
	// factor pam_gatehouse.so asks at an sshd login (docs/pam.md). Nil: such a target refuses.
	TargetPrompt func(s *session.Session) PromptFunc
	// Resolve looks a host name up (nil: net.DefaultResolver, bounded to 5 s).
	Resolve func(ctx context.Context, host string) ([]netip.Addr, error)
}

func (c *Connector) observe(ctx context.Context, typ string, f audit.Fields) error {
	if c.Observe == nil {
		return nil
	}
	return c.Observe(ctx, Event{Type: typ, Fields: f})
}

// Connect runs the session's target request (s.Request) and returns what happened (for the
// session's row and audit entries) and the exit status. It writes nothing into the session.
//
// The session's goroutine waits below, in the relay, for the session's whole life, and Go keeps
// a goroutine's stack at least four times as large as what it uses while it waits: so the
// decision and the dial run in dial, whose frame (several KiB of locals) is gone before the
// relay starts, and what stays on the stack is small (an idle relayed session's stack shrinks
// from 32 to 16 KiB; TestRelayWaitFramesAreSmall).
func (c *Connector) Connect(ctx context.Context, s *session.Session) (session.Outcome, int) {
	d, out, status := c.dial(ctx, s)
	if d == nil {
		return out, status
	}
	// Closing the target connection when the relay is over: its error says nothing the relay
	// did not already report.
	defer func() { _ = d.client.Close() }()
	r := c.relay(ctx, s, d)
	if r.refused != nil {
		return c.refused(ctx, s, &d.out, &d.base, r.refused)
	}
	out = d.out
	out.BytesIn, out.BytesOut, out.Comment = r.bytesIn, r.bytesOut, r.comment
	return out, r.status
}

// dialed is what the relay needs of a connection dial made: the target's connection, and the
// session's audit fields and outcome so far.
type dialed struct {
	client  ssh.Conn
	tkt     string
	base    audit.Fields
	out     session.Outcome
	start   time.Time
	command string
	idle    access.IdleTimeouts
}

// refused ends a connection request with r: its audit entry, and r shown to the user.
// (Pointers, not copies: the relay's caller waits with this call's arguments in its frame.)
func (c *Connector) refused(ctx context.Context, s *session.Session, o *session.Outcome, base *audit.Fields, r *refusal.Refusal) (session.Outcome, int) {
	out := *o
	out.Allowed, out.Comment = false, r.Code
	f := base.With(map[string]string{"error_code": r.Code})
	f.Allowed, f.Comment = audit.Bool(false), r.Message
	_ = c.observe(ctx, "connection.denied", f) // refused either way; the log counted a failure
	return out, c.Env.ShowRefusal(s, r)
}

// dial decides, asks the second factors and dials the target. It returns what the relay needs
// (on the heap, not on the waiting goroutine's stack), or nil and the outcome and exit status
// to end with.
func (c *Connector) dial(ctx context.Context, s *session.Session) (*dialed, session.Outcome, int) {
	d := new(dialed)
	out, status := c.decideAndDial(ctx, s, d)
	if d.client == nil {
		return nil, out, status
	}
	return d, out, status
}

// decideAndDial is dial's work; when the relay may start it fills dd (dd.client set).
func (c *Connector) decideAndDial(ctx context.Context, s *session.Session, dd *dialed) (session.Outcome, int) {
	req := s.Request
	acct := s.Account
	user := req.User
	if user == "" {
		user = acct.Name // The Bastion's default remote user
	}
	port := req.Port
	if port == 0 {
		port = 22
	}
	out := session.Outcome{Kind: "ssh", User: user, Host: req.Host, PortTo: port}
	base := audit.Fields{UniqID: s.ID, Account: acct.Name, IPFrom: netaddr.IP(s.RemoteAddr), PortFrom: netaddr.Port(s.RemoteAddr),
		IPBastion: netaddr.IP(s.LocalAddr), PortBastion: netaddr.Port(s.LocalAddr), User: user, HostTo: req.Host, PortTo: port}
	if who := s.Identity.Account; who != "" && who != acct.Name {
		// --ssh-as: an admin connects as acct; both names are in every line, as The Bastion's
		// sudo'd session writes its SUDO_USER.
		base = base.With(map[string]string{"sudo_user": who})
	}
	refuse := func(r *refusal.Refusal) (session.Outcome, int) {
		return c.refused(ctx, s, &out, &base, r)
	}
	if err := access.ValidateRemoteUser(user, false); err != nil {
		return refuse(&refusal.Refusal{Code: "KO_INVALID_REMOTE_USER", Message: err.Error(), Exit: refusal.ExitInvalidUser})
	}
	ip, err := c.resolve(ctx, req.Host)
	if err != nil {
		var r *refusal.Refusal
		if errors.Is(err, errBadHost) {
			r = &refusal.Refusal{Code: "KO_INVALID_REMOTE_HOST", Message: err.Error(), Exit: refusal.ExitInvalidHost}
		} else {
			r = &refusal.Refusal{Code: "KO_HOST_NOT_FOUND", Message: err.Error(), Exit: refusal.ExitHostNotFound}
			c.Log.Warn("target name does not resolve", "account", acct.Name, "host", req.Host, "err", err)
		}
		return refuse(r)
	}
	base.IPTo = ip.String()
	out.IPTo = ip.String()
	in, err := accessdb.Load(ctx, c.Store, acct)
	if err != nil {
		c.Log.Error("cannot load accesses", "account", acct.Name, "err", err)
		return refuse(&refusal.Refusal{Code: "KO_ACCESS_DENIED", Message: "Access denied: the bastion could not read your accesses, try again later", Exit: refusal.ExitAccessDenied})
	}
	target := access.Target{User: user, Host: req.Host, IP: ip, Port: port}
	d, err := access.Decide(c.Env.Deps().Now(), in.Account, in.Groups, in.Personal, target)
	if err != nil {
		var ref *refusal.Refusal
		if errors.As(err, &ref) {
			return refuse(ref)
		}
		return refuse(&refusal.Refusal{Code: "KO_ACCESS_DENIED", Message: err.Error(), Exit: refusal.ExitAccessDenied})
	}
	// A transfer needs its protocol grant besides the SSH access, on this plain path as on the
	// jump's (`alice@bastion -- root@host scp -t /x` is what scp -S and rsync -e send).
	if p, err := access.DecideTransfer(c.Env.Deps().Now(), in.Account, in.Groups, in.Personal, target, req.Command(), req.Subsystem); err != nil {
		ref := &refusal.Refusal{Code: "KO_PROTOCOL_DENIED", Message: err.Error(), Exit: refusal.ExitAccessDenied}
		_ = errors.As(err, &ref)
		f := base.With(map[string]string{"protocol": string(p)})
		f.Allowed, f.Comment = audit.Bool(false), ref.Message
		_ = c.observe(ctx, "transfer.denied", f) // refused either way
		return refuse(ref)
	}
	out.Allowed = true
	display := access.MachineDisplay(user, ip.String(), port)
	errw := s.Err
	for _, l := range access.TryLines(d, time.Local) {
		fmt.Fprintln(errw, l)
	}
	// The MFA hook always runs: besides the accesses' requirements, the account's own policy
	// (JIT mode) may ask for a factor. Without a hook, any requirement refuses (fail closed).
	var reqs []string
	for _, m := range d.MFA() {
		reqs = append(reqs, string(m))
	}
	switch {
	case c.MFA != nil:
		if r := c.MFA(ctx, s, reqs, session.Target{User: user, Host: req.Host, IP: ip, Port: port, Display: display}); r != nil {
			return refuse(r)
		}
	case len(reqs) > 0:
		return refuse(&refusal.Refusal{Code: "KO_MFA_FAILED", Message: "MFA is required for this host but no second factor is available on this bastion", Exit: refusal.ExitMFAFailed})
	}
	passwords, pwRefusal := c.autologinPasswords(ctx, s, d)
	if pwRefusal != nil {
		return refuse(pwRefusal)
	}
	if passwords != nil {
		base = base.With(map[string]string{"password_autologin": "true"})
		fmt.Fprintln(errw, " will use SSH with password autologin")
	}
	signers, err := c.signers(d, in.Keys)
	if err != nil {
		c.Log.Error("cannot open egress keys", "account", acct.Name, "err", err)
		fmt.Fprintf(errw, "Cannot use your egress keys: %v\n", err)
		return out, egress.ExitStatus
	}
	mode, err := egress.ParseHostKeyMode(acct.Settings["egress_strict_host_key_checking"])
	if err != nil {
		mode = egress.HostKeyYes // a bad stored value never weakens checking
	}
	policy := egress.HostKeyPolicy{Mode: mode, Account: acct.Name, Store: knownHosts{c.Store}, OnEvent: func(ev egress.HostKeyEvent) {
		if ev.Kind != egress.HostKeyMatched {
			f := base.With(map[string]string{"event": string(ev.Kind), "fingerprint": ev.Fingerprint, "known": fmt.Sprint(ev.Known), "hostport": ev.HostPort})
			// The host key policy decided already; the connection.open below is the one that
			// fails closed when the log cannot be written.
			_ = c.observe(ctx, "hostkey", f)
		}
	}}
	if req.Wait {
		if err := c.waitForPort(ctx, errw, req.Host, net.JoinHostPort(ip.String(), strconv.Itoa(port)), port); err != nil {
			return out, egress.ExitStatus // the session ended while waiting
		}
	}
	if !req.Quiet {
		// The Bastion's two lines, which expect scripts wait for: the access granted and where
		// the session is recorded (here its id, for selfPlaySession), then "Connecting...".
		fmt.Fprintf(errw, " allowed ... log on(%s)\n\n", s.ID)
		fmt.Fprintln(errw, "Connecting...")
	}
	// The ticket is made before the dial: a target's sshd may ask for it during authentication
	// (keyboard-interactive, before any env request can arrive), and the session gets it as env.
	var tkt string
	if c.Ticket != nil {
		tkt = c.Ticket(s, out)
	}
	dialer := c.Dialer
	dialer.Passwords = passwords
	dialer.PasswordDelay = 3 * time.Second // The Bastion's default
	if d := req.FallbackPasswordDelay; d != nil {
		dialer.PasswordDelay = time.Duration(*d) * time.Second
	}
	stopQuiet := func() {}
	if tkt != "" {
		dialer.KeyboardInteractive, stopQuiet = quietTarget(c.targetQuestions(s, tkt), errw, targetQuietAfter)
	}
	start := time.Now()
	client, err := dialer.Dial(ctx, egress.Target{User: user, Host: ip.String(), Port: port}, signers, policy)
	stopQuiet()
	if err != nil {
		f := base
		f.Allowed, f.Comment = audit.Bool(true), err.Error()
		var reason any // nil: not a dial error of the egress side
		var de *egress.DialError
		if errors.As(err, &de) {
			reason = string(de.Reason)
			f = f.With(map[string]string{"comment_close": string(de.Reason)})
		}
		c.Log.Warn("target connection failed", "account", acct.Name, "target", display, "reason", reason, "err", err)
		_ = c.observe(ctx, "connection.close", f) // after the fact: the log counted a failure
		fmt.Fprintln(errw, strings.ReplaceAll(err.Error(), "\n", "\r\n"))
		return out, egress.ExitStatus
	}
	if c.OnDial != nil {
		c.OnDial(time.Since(start))
	}
	// rsync's whole file list first (no incremental recursion), so that the audit reads it all.
	command := transfer.RsyncServerCommand(RemoteCommand(req, c.Env.Deps().Config().RemoteCommandEscapeByDefault))
	*dd = dialed{client: client, tkt: tkt, base: base, out: out, start: start, command: command, idle: c.idleTimeouts(s, d)}
	return out, 0
}

// waitForPort is --wait: after the decision and the second factor, and before connecting, it
// probes the target's port once a second until it opens, as The Bastion does (at most 3600
// tries, a "Still trying" line every 5), then connects whatever the outcome, so that a target
// that never answers fails as any unreachable target. It returns an error only when the session
// ended meanwhile.
func (c *Connector) waitForPort(ctx context.Context, w io.Writer, host, addr string, port int) error {
	now := c.Env.Deps().Now
	fmt.Fprintf(w, "Waiting for port %d to be open on %s before attempting to connect...\n", port, host)
	wt := probe.Waiter{Probe: probe.TCP(addr), Sleep: probe.SleepCtx, Now: now, Max: 3600, Every: 5,
		Progress: func(d time.Duration) {
			fmt.Fprintf(w, "Still trying to connect to %s:%d after %d seconds...\n", host, port, int(d/time.Second))
		}}
	waited, err := wt.Wait(ctx)
	switch {
	case err == nil:
		fmt.Fprintf(w, "Alive after waiting for %d seconds, connecting...\n", waited)
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return nil
}

// RemoteCommand is the command sent to the target: as typed, or with The Bastion's legacy
// escaping (every ' written \') when --always-escape asks for it, or when byDefault
// (remoteCommandEscapeByDefault) and --never-escape is not given. --always-escape wins when both
// are given, as in osh.pl.
func RemoteCommand(req session.Request, byDefault bool) string {
	cmd := req.Command()
	if req.AlwaysEscape || byDefault && !req.NeverEscape {
		cmd = strings.ReplaceAll(cmd, "'", `\'`)
	}
	return cmd
}

// idleTimeouts combines the global idle lock/kill with the matching groups' (The Bastion's rule);
// accounts with idle-ignore are exempt.
func (c *Connector) idleTimeouts(s *session.Session, d access.Decision) access.IdleTimeouts {
	if s.Account.Settings["idle_ignore"] == "yes" {
		return access.IdleTimeouts{}
	}
	cfg := c.Env.Deps().Config()
	global := access.IdleTimeouts{Lock: time.Duration(cfg.IdleLockTimeout) * time.Second, Kill: time.Duration(cfg.IdleKillTimeout) * time.Second}
	return access.CombineIdle(global, d.Grants)
}

// relayed is what a relay did: its exit status, the bytes it carried, why it ended early.
type relayed struct {
	status            int
	bytesIn, bytesOut int64
	comment           string
	refused           *refusal.Refusal // the relay did not start: Connect refuses with it
}

// relay runs the session on d's connection. The session's goroutine waits in it while the
// session lasts, so its own frame is kept small: what it sets up runs in startRelay, the audit at
// the end in endRelay.
func (c *Connector) relay(ctx context.Context, s *session.Session, d *dialed) relayed {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rs := &relayState{cancel: cancel, relayDone: make(chan struct{})}
	defer rs.cleanup()
	if r, ok := c.startRelay(ctx, s, d, rs); !ok {
		return r
	}
	var status int
	var signal string
	var err error
	if p := crash.Catch(func() {
		status, signal, err = egress.RunSession(ctx, d.client, rs.er, rs.streams)
	}); p != nil {
		rs.panicked.CompareAndSwap(nil, p)
		status, err = egress.ExitStatus, errors.New("internal error")
	}
	close(rs.relayDone)
	r := c.endRelay(ctx, d, rs, status, signal, err)
	crash.Rethrow(rs.panicked.Load())
	return r
}

// relayState is what startRelay set up for one relay.
type relayState struct {
	cancel  context.CancelFunc
	er      egress.Request
	streams egress.Streams
	counted *countWriter
	inCount *countReader
	base    audit.Fields // the connection's audit fields, with the command
	killed  atomic.Bool
	// killSaid is closed once an idle kill's notice was written (nil without an idle watch).
	killSaid <-chan struct{}
	// relayDone is closed once the relay returned (an idle kill that it outlives ends the
	// session from the registry).
	relayDone chan struct{}
	// A panic in the watcher or the relay ends this relay, is audited with its close,
	// then goes on to the session's recovery point (internal/crash).
	panicked atomic.Pointer[crash.Panic]
	undo     []func() // run in reverse order when the relay ends
}

func (rs *relayState) cleanup() {
	for i := len(rs.undo) - 1; i >= 0; i-- {
		rs.undo[i]()
	}
}

// startRelay sets up the relay of d (idle gate, lock registry, idle watcher, streams, transfer
// audit) and audits its open; ok false: the relay must not start, and r says why.
func (c *Connector) startRelay(ctx context.Context, s *session.Session, d *dialed, rs *relayState) (r relayed, ok bool) {
	cancel := rs.cancel
	gate := newIdleGate(ctx, s.Err, c.Env.Deps().Now)
	if c.Locks != nil {
		c.Locks.add(s.Account.Name, gate)
		rs.undo = append(rs.undo, func() { c.Locks.remove(s.Account.Name, gate) })
	}
	if idle := d.idle; idle.Lock > 0 || idle.Kill > 0 {
		cfg := c.Env.Deps().Config()
		var stuck func()
		if c.EndSession != nil {
			stuck = func() { c.EndSession(s.Account.ID, s.ID, "Idle kill timeout", egress.ExitStatus) }
		}
		rs.killSaid = startIdleWatch(ctx, gate, clock.Or(c.Env.Deps().Clock), idle.Lock, idle.Kill, time.Duration(cfg.WarnBeforeLockSeconds)*time.Second,
			time.Duration(cfg.WarnBeforeKillSeconds)*time.Second, cancel, &rs.killed, func(p *crash.Panic) {
				rs.panicked.CompareAndSwap(nil, p)
				cancel()
			}, rs.relayDone, stuck)
	}
	req := s.Request
	command := d.command
	er := egress.Request{Command: command, Subsystem: req.Subsystem}
	if d.tkt != "" {
		er.Env = map[string]string{ticket.EnvName: d.tkt}
	}
	wantPTY := s.PTY && !req.NoTTY && (command == "" || req.ForceTTY)
	if wantPTY {
		er.Pty = &egress.PtyRequest{Term: s.Term, Cols: uint32(s.Cols), Rows: uint32(s.Rows), Modes: decodeModes(s.Modes)}
	}
	stdout, stderr := s.RawOut, s.RawErr
	if stdout == nil || (s.PTY && !wantPTY) {
		// The user's terminal is raw (a pty here) but the target runs without one: its lone LFs
		// get the CR a pty's line discipline would add, as with OpenSSH as the bastion.
		stdout, stderr = s.Out, s.Err
	}
	counted := &countWriter{w: &gatedWriter{ctx: ctx, g: gate, w: stdout}}
	stderr = &gatedWriter{ctx: ctx, g: gate, w: stderr}
	// Borrowed, not read: once the relay ends its reader takes nothing more, so what is typed
	// next reaches the interactive prompt whole.
	stdin, release := session.BorrowInput(s.In)
	rs.undo = append(rs.undo, release)
	var in io.Reader = &gatedReader{g: gate, r: stdin}
	var outw io.Writer = counted
	base := d.base
	if a := c.transferAudit(ctx, base, cancel, req.Subsystem, command); a != nil {
		// A transfer on the plain path: every SFTP operation or scp file audited as on a jump.
		rs.undo = append(rs.undo, a.close)
		in, outw = a.reader(in), a.writer(counted)
	}
	inCount := &countReader{r: in}
	if command != "" {
		// What runs on the target, whole (never masked): a connection from the interactive
		// mode has no other audit entry that names it. In the close too, as The Bastion's.
		base.Params = []string{command}
	}
	rs.er, rs.counted, rs.inCount, rs.base = er, counted, inCount, base
	rs.streams = egress.Streams{Stdin: inCount, Stdout: outw, Stderr: stderr, WindowChanges: s.Resize, Signals: s.Signals}
	if s.Requests != nil {
		rs.streams.Requests = s.Requests
	}
	open := base
	open.Allowed = audit.Bool(true)
	if err := c.observe(ctx, "connection.open", open); err != nil {
		// Fail closed: a connection the audit log cannot record does not start.
		c.Log.Error("cannot audit the connection's start, refusing it", "account", s.Account.Name, "err", err)
		return relayed{status: egress.ExitStatus, refused: refusal.AuditUnavailable()}, false
	}
	return relayed{}, true
}

// endRelay audits the close of a relay that ran, and returns what it did.
func (c *Connector) endRelay(ctx context.Context, d *dialed, rs *relayState, status int, signal string, err error) relayed {
	f := rs.base
	f.Allowed, f.ExitStatus, f.Duration = audit.Bool(true), audit.Int(status), time.Since(d.start).Seconds()
	f.BytesOut, f.BytesIn = rs.counted.n.Load(), rs.inCount.n.Load()
	f.Signal = signal
	if err != nil && !errors.Is(err, egress.ErrNoExitStatus) {
		f.Comment = err.Error()
	}
	r := relayed{status: status, bytesIn: rs.inCount.n.Load(), bytesOut: rs.counted.n.Load()}
	if rs.killed.Load() {
		f.Comment, r.comment = "idle_kill", "idle_kill"
		waitKillNotice(clock.Or(c.Env.Deps().Clock), rs.killSaid)
	}
	_ = c.observe(ctx, "connection.close", f) // after the fact: the log counted and alerted
	return r
}

// signers opens every key the decision offers, in its order, from the keys its inputs listed.
func (c *Connector) signers(d access.Decision, keys map[string]store.EgressKey) ([]ssh.Signer, error) {
	var out []ssh.Signer
	for _, k := range d.Keys() {
		sk, ok := keys[k.ID]
		if !ok {
			continue
		}
		pem, err := c.Sealer.Open(seal.PurposeEgressKey, sk.Sealed)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", sk.Fingerprint, err)
		}
		signer, err := egress.ParseSigner(pem)
		if err != nil {
			return nil, err
		}
		out = append(out, signer)
	}
	return out, nil
}

var errBadHost = errors.New("invalid host")

func (c *Connector) resolve(ctx context.Context, host string) (netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.Unmap(), nil
	}
	h, err := access.ParseHost(host)
	if err != nil || h.Kind != access.HostName {
		return netip.Addr{}, fmt.Errorf("%w: %q is neither an IP address nor a host name", errBadHost, host)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var addrs []netip.Addr
	if c.Resolve != nil {
		addrs, err = c.Resolve(rctx, host)
	} else {
		addrs, err = net.DefaultResolver.LookupNetIP(rctx, "ip", host)
	}
	if err != nil || len(addrs) == 0 {
		//lint:ignore ST1005 The Bastion's own sentence, shown to the user as it is
		return netip.Addr{}, fmt.Errorf("Unable to resolve host '%s'", host)
	}
	return addrs[0].Unmap(), nil
}

// knownHosts adapts the store to egress.KnownHosts.
type knownHosts struct{ st store.KnownHostKeys }

func (k knownHosts) Lookup(ctx context.Context, account, hostport string) ([]ssh.PublicKey, error) {
	rows, err := k.st.KnownHostKeys(ctx, account, hostport)
	if err != nil {
		return nil, err
	}
	var out []ssh.PublicKey
	for _, r := range rows {
		pk, err := ssh.ParsePublicKey(r.Key)
		if err != nil {
			return nil, fmt.Errorf("stored host key for %s does not parse: %w", hostport, err)
		}
		out = append(out, pk)
	}
	return out, nil
}

func (k knownHosts) Add(ctx context.Context, account, hostport string, key ssh.PublicKey) error {
	return k.st.AddKnownHost(ctx, store.KnownHost{Account: account, HostPort: hostport, Key: key.Marshal(), AddedAt: time.Now().UTC()})
}

// decodeModes parses RFC 4254 8 encoded terminal modes (opcode byte, uint32 value, until 0).
func decodeModes(s string) ssh.TerminalModes {
	b := []byte(s)
	m := ssh.TerminalModes{}
	for len(b) > 0 && b[0] != 0 && b[0] < 160 {
		if len(b) < 5 {
			break
		}
		m[b[0]] = uint32(b[1])<<24 | uint32(b[2])<<16 | uint32(b[3])<<8 | uint32(b[4])
		b = b[5:]
	}
	return m
}

// countWriter and countReader count bytes relayed; atomic because the stdin reader may still be
// running when the session's totals are read.
type countWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// WriteOwned passes the relay's buffer on to a recorder that takes it (egress.OwnedWriter).
func (c *countWriter) WriteOwned(p []byte) ([]byte, error) {
	next, err := egress.WriteOwned(c.w, p)
	if err == nil {
		c.n.Add(int64(len(p)))
	}
	return next, err
}

type countReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// autologinPasswords returns the egress passwords to log in with when the line asked for them
// (-P / --self-password: the account's own; --password GROUP: the group's), nil otherwise. Who
// may use which password is egresspw.MayUse's decision; every failure refuses.
func (c *Connector) autologinPasswords(ctx context.Context, s *session.Session, d access.Decision) ([]string, *refusal.Refusal) {
	req := s.Request
	if !req.SelfPassword && req.PasswordGroup == "" {
		return nil, nil
	}
	use := egresspw.Use{Self: req.SelfPassword, Group: req.PasswordGroup}
	if err := egresspw.MayUse(use, d); err != nil {
		return nil, &refusal.Refusal{Code: "KO_ACCESS_DENIED", Message: "Access denied: " + err.Error(), Exit: refusal.ExitAccessDenied}
	}
	kind, owner, how := "account", s.Account.Name, "selfGeneratePassword"
	if !use.Self {
		kind, owner, how = "group", use.Group, "groupGeneratePassword"
	}
	ps, ok := c.Store.(egresspw.Store)
	if !ok {
		return nil, &refusal.Refusal{Code: "KO_ACCESS_DENIED", Message: "Access denied: this bastion's store holds no egress passwords", Exit: refusal.ExitAccessDenied}
	}
	pws, err := egresspw.Passwords(ctx, ps, c.Sealer, kind, owner)
	if errors.Is(err, egresspw.ErrNone) {
		return nil, &refusal.Refusal{Code: "KO_ACCESS_DENIED", Message: fmt.Sprintf("Access denied: %s %s has no egress password (see %s)", kind, owner, how), Exit: refusal.ExitAccessDenied}
	}
	if err != nil {
		c.Log.Error("cannot open egress passwords", "owner_kind", kind, "owner", owner, "err", err)
		return nil, &refusal.Refusal{Code: "KO_ACCESS_DENIED", Message: "Access denied: the egress password cannot be read", Exit: refusal.ExitAccessDenied}
	}
	if pws, err = egresspw.KeepForced(pws, egresspw.Forced(use, d)); err != nil {
		return nil, &refusal.Refusal{Code: "KO_ACCESS_DENIED", Message: "Access denied: " + err.Error(), Exit: refusal.ExitAccessDenied}
	}
	return pws, nil
}
