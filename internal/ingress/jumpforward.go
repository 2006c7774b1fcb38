package ingress

// Port forwarding inside a ProxyJump (`ssh -J alice@bastion -L 8080:127.0.0.1:80 root@10.0.0.5`,
// and -D). The client opens a direct-tcpip channel on the jump's INNER connection, whose server
// is, for the client, the target: as OpenSSH's own server would, the target connects to the
// host and port the channel names (127.0.0.1 is the target's loopback). gatehouse therefore
// decides the forward (access.DecideForwarding, ForwardThrough: the SSH access to the target and
// a --forward grant for the destination, from the same means), logs in to the target with the
// decision's egress keys (the connector's DialForward, as ssh -R does: JIT factors answered
// when the inner connection authenticated, no prompt) and opens a direct-tcpip channel there.
// Each forwarded connection is decided again (a grant revoked, an account frozen or expired
// since: refused), and audited with its bytes (forward.open, forward.close); a refusal is
// forward.denied, a target that cannot be reached forward.failed. Nothing is dialled from the
// bastion itself.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/access"
	"gatehouse/internal/audit"
	"gatehouse/internal/crash"
	"gatehouse/internal/netaddr"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

const (
	// maxThroughConns bounds the forwarded connections relayed at once for one inner connection.
	maxThroughConns = 256
	// maxThroughLogins bounds the egress connections one inner connection holds (one per set of
	// keys and MFA requirements its decisions name; one in practice).
	maxThroughLogins = 4
)

// ThroughDest is where a direct-tcpip channel of a connection logged in to tgt leads: dest is
// what the decision sees (a destination on the target's loopback, or its unspecified address,
// is the target itself, at the channel's port), dial is the address the target is asked to
// connect to (an IP address: a host name is resolved here, by resolve, so that the target
// connects where the decision was made, never to its own idea of the name).
func ThroughDest(ctx context.Context, ch JumpTarget, tgt access.Target, resolve func(context.Context, string) (netip.Addr, error)) (dest access.Target, dial string, err error) {
	ip, perr := netip.ParseAddr(ch.Host)
	switch {
	case perr == nil:
	case strings.EqualFold(strings.TrimSuffix(ch.Host, "."), "localhost"):
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	default:
		if ip, err = resolve(ctx, ch.Host); err != nil {
			//lint:ignore ST1005 The Bastion's sentence, shown to the user as is
			return access.Target{}, "", fmt.Errorf("Unable to resolve host '%s'", ch.Host)
		}
	}
	ip = ip.Unmap()
	if ip.Zone() != "" {
		return access.Target{}, "", fmt.Errorf("%q: an address with a zone is not a destination", ch.Host)
	}
	dial = ip.String()
	if ip.IsLoopback() || ip.IsUnspecified() {
		return access.Target{Host: tgt.Host, IP: tgt.IP, Port: ch.Port}, dial, nil
	}
	return access.Target{Host: ch.Host, IP: ip, Port: ch.Port}, dial, nil
}

// resolveHost is ThroughDest's resolver: the first address of host, bounded in time.
func resolveHost(ctx context.Context, host string) (netip.Addr, error) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
	if err != nil {
		return netip.Addr{}, err
	}
	if len(addrs) == 0 {
		return netip.Addr{}, errors.New("no address")
	}
	return addrs[0], nil
}

// localForwards serves the direct-tcpip channels of one jump's inner connection.
type localForwards struct {
	s        *Server
	ctx      context.Context
	endAll   context.CancelCauseFunc // ends ctx, so every relay, with a cause (forwardEnded)
	outer    *ssh.ServerConn         // the authenticated connection: the account, the audit's source
	client   io.Closer               // the inner connection: a freeze ends it
	conn     io.Closer               // the client's own connection (outer's): cut when client's close cannot go out
	user     string
	target   JumpTarget
	answered []string // the factors the inner connection answered for its target

	mu         sync.Mutex
	closed     bool
	egress     map[string]ssh.Conn // by loginKey: the logins to the target
	unregister func()
	conns      sync.WaitGroup
	open       atomic.Int64
}

// newLocalForwards serves the forwards of inner under ctx; endAll ends ctx, so every relay,
// with the reason of a control (a freeze, a deletion) before the client's connection goes,
// so that their forward.close events say why: the connection's -R forwards share it (they
// close the same client).
func (s *Server) newLocalForwards(ctx context.Context, endAll context.CancelCauseFunc, outer, inner *ssh.ServerConn, t JumpTarget) *localForwards {
	return &localForwards{s: s, ctx: ctx, endAll: endAll, outer: outer, client: inner, conn: outer, user: inner.User(), target: t,
		answered: answeredFrom(withAnswered(ctx, inner.Permissions)), egress: map[string]ssh.Conn{}}
}

// take serves nch when it is a forward (direct-tcpip), in its own goroutine, and says so; any
// other channel type is the caller's.
func (l *localForwards) take(nch ssh.NewChannel) bool {
	if nch.ChannelType() != "direct-tcpip" {
		return false
	}
	if l.open.Add(1) > maxThroughConns {
		l.open.Add(-1)
		_ = nch.Reject(ssh.ResourceShortage, "too many forwarded connections")
		return true
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.open.Add(-1)
		_ = nch.Reject(ssh.ConnectionFailed, "the connection is ending")
		return true
	}
	l.conns.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.conns.Done()
		defer l.open.Add(-1)
		// One forwarded connection's failure ends it alone, never the process.
		defer crash.Recover(func(p *crash.Panic) { l.s.panicked(accountOf(l.outer), l.outer.RemoteAddr(), p) })
		l.relay(nch)
	}()
	return true
}

func (l *localForwards) fields(host string, port int) audit.Fields {
	return audit.Fields{User: l.user, HostTo: host, PortTo: port,
		Extra: map[string]string{"direction": "local", "via": JumpLine(l.user, l.target, ""), "ssh_port": strconv.Itoa(l.target.Port)}}
}

// deny refuses nch with why (the client prints it) and audits it as typ.
func (l *localForwards) deny(nch ssh.NewChannel, reason ssh.RejectionReason, typ string, f audit.Fields, why string) {
	_ = nch.Reject(reason, why)
	f.Allowed, f.Comment = audit.Bool(false), why
	l.s.log.Info("forward refused", "account", accountOf(l.outer), "via", l.target.Host, "host", f.HostTo, "port", f.PortTo, "reason", why)
	_ = l.s.audit(l.ctx, l.outer, typ, f) // refused either way
}

// relay decides one forwarded connection and, granted, carries it through the target.
func (l *localForwards) relay(nch ssh.NewChannel) {
	var req directTCPIP
	_ = ssh.Unmarshal(nch.ExtraData(), &req) // for the audit only: ParseJumpTarget decides
	ch, err := ParseJumpTarget(nch.ExtraData())
	if err != nil {
		l.deny(nch, ssh.ConnectionFailed, "forward.denied", l.fields(sanitize(req.Host), int(req.Port)), err.Error())
		return
	}
	f := l.fields(ch.Host, ch.Port)
	tgt, err := resolveTarget(l.ctx, l.user, l.target)
	if err != nil {
		l.deny(nch, ssh.Prohibited, "forward.denied", f, err.Error())
		return
	}
	dest, dial, err := ThroughDest(l.ctx, ch, tgt, resolveHost)
	if err != nil {
		l.deny(nch, ssh.ConnectionFailed, "forward.denied", f, err.Error())
		return
	}
	f.HostTo, f.IPTo = dest.Host, dest.IP.String()
	f.Extra["connect_to"] = net.JoinHostPort(dial, strconv.Itoa(ch.Port))
	fwd := access.ForwardRequest{Direction: access.ForwardThrough, Target: tgt, Dest: dest}
	d, facts, err := l.s.forwardDecision(l.ctx, l.outer, fwd, false, nil)
	if err != nil {
		l.deny(nch, ssh.Prohibited, "forward.denied", f, err.Error())
		return
	}
	eg, err := l.login(facts.Account, tgt, d, facts.Inputs.Keys)
	if err != nil {
		l.deny(nch, ssh.ConnectionFailed, "forward.failed", f, "cannot log in to the target: "+err.Error())
		return
	}
	origIP, origPort := netaddr.IP(l.outer.RemoteAddr()), netaddr.Port(l.outer.RemoteAddr())
	tch, treqs, err := eg.OpenChannel("direct-tcpip", ssh.Marshal(directTCPIP{Host: dial, Port: uint32(ch.Port), OrigIP: origIP, OrigPort: uint32(origPort)}))
	if err != nil {
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) {
			l.drop(eg) // the login itself is gone: the next forward logs in again
		}
		l.deny(nch, ssh.ConnectionFailed, "forward.failed", f, "the target cannot connect to "+f.Extra["connect_to"]+": "+err.Error())
		return
	}
	go ssh.DiscardRequests(treqs)
	defer func() { _ = tch.Close() }() // the relay is over: nothing left to report
	cch, creqs, err := nch.Accept()
	if err != nil {
		return // the client went away: nothing was relayed
	}
	go ssh.DiscardRequests(creqs)
	defer func() { _ = cch.Close() }() // the relay is over: nothing left to report
	f.Allowed = audit.Bool(true)
	start := time.Now()
	if err := l.s.audit(l.ctx, l.outer, "forward.open", f); err != nil {
		// Fail closed: a forward the audit log cannot record carries nothing.
		l.s.log.Error("cannot audit a forward's start, refusing it", "account", accountOf(l.outer), "err", err)
		return
	}
	// Re-checked as a session is, with the MFA check its login passed.
	rctx, stop := l.s.liveForward(l.ctx, l.outer, facts.Account.ExpiresAt, func(ctx context.Context) error {
		_, _, err := l.s.forwardDecision(ctx, l.outer, fwd, true, l.answered)
		return err
	})
	f.BytesIn, f.BytesOut = pipe(rctx, cch, tch)
	f.Duration = time.Since(start).Seconds()
	f.Comment = endedComment(rctx)
	stop()
	_ = l.s.audit(context.WithoutCancel(l.ctx), l.outer, "forward.close", f) // after the fact: the log counts and alerts a failure
}

// sanitize keeps a refused channel's host fit for the audit: printable, bounded.
func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > 256 {
		s = s[:256] + "…"
	}
	return s
}

// loginKey tells logins apart: the keys a decision offers and the MFA it requires. A decision
// that asks for other keys or more factors logs in anew, so the MFA check runs again for it.
func loginKey(d access.Decision) string {
	var keys, mfa []string
	for _, k := range d.Keys() {
		keys = append(keys, k.ID+"/"+k.Fingerprint)
	}
	for _, m := range d.MFA() {
		mfa = append(mfa, string(m))
	}
	slices.Sort(keys)
	slices.Sort(mfa)
	return strings.Join(keys, ",") + "|" + strings.Join(mfa, ",")
}

// login returns the inner connection's login to the target for decision d, made on first use;
// a login made before carries the forward only once the MFA check passes again for it.
func (l *localForwards) login(a store.Account, tgt access.Target, d access.Decision, keys map[string]store.EgressKey) (ssh.Conn, error) {
	k := loginKey(d)
	dial := RemoteForwardDial{Session: forwardSession(l.s, l.outer, a, l.answered), Target: tgt, Decision: d, Keys: keys,
		Channels: func(nch ssh.NewChannel) {
			_ = nch.Reject(ssh.Prohibited, "the bastion accepts no channel from a target here")
		}}
	l.mu.Lock()
	if c := l.egress[k]; c != nil && !l.closed {
		l.mu.Unlock()
		if err := l.s.forwardMFA(l.ctx, dial); err != nil {
			return nil, err
		}
		return c, nil
	}
	defer l.mu.Unlock() // held while dialling: the first forwards wait for one login, not make several
	switch {
	case l.closed:
		return nil, errors.New("the connection is ending")
	case l.egress[k] != nil:
		return l.egress[k], nil // made while this one waited, its MFA checked by that dial
	case len(l.egress) >= maxThroughLogins:
		return nil, fmt.Errorf("at most %d logins to the target per connection", maxThroughLogins)
	case l.s.RemoteForward == nil:
		return nil, errors.New("forwarding through a target is not available on this bastion")
	}
	conn, err := l.s.RemoteForward(l.ctx, dial)
	if err != nil {
		return nil, err
	}
	l.egress[k] = conn
	if l.unregister == nil && l.s.Running != nil {
		l.unregister = l.s.Running.Add(a.ID, "local-forward-"+strconv.FormatUint(nextForwardID.Add(1), 10), l.registryEnd(a.Name))
	}
	return conn, nil
}

// registryEnd is the Running registry's end of these forwards (a freeze, a deletion of
// account): each relay ends with the reason, then the client's connection and the logins to
// the target close. It returns at once: ending the client's connection ends its forwards, but
// the client is the jump's inner connection, whose close is a message on the outer one, which
// blocks while that client does not read; the registry's End (an admin's freeze) must not wait
// on it, and a close that cannot go out cuts the outer connection (jumpend.go). The logins are
// closed on their own goroutine too: a login being made holds l.mu.
func (l *localForwards) registryEnd(account string) func(reason string, exit int, accountWide bool) {
	return func(reason string, _ int, _ bool) {
		l.s.log.Info("forwards through a target ended", "account", account, "reason", reason)
		l.endAll(&forwardEnded{reason: reason})
		l.s.closeOrCut(l.client, l.conn, account, "a jump's inner connection")
		go l.closeLogins()
	}
}

// forwardMFA runs the MFA check of a forward whose login to the target was made before: the
// factors answered when the connection authenticated must still cover what policy asks now.
func (s *Server) forwardMFA(ctx context.Context, d RemoteForwardDial) error {
	if s.RemoteForward == nil {
		return errors.New("forwarding through a target is not available on this bastion")
	}
	d.MFAOnly = true
	_, err := s.RemoteForward(ctx, d)
	return err
}

// drop forgets a login that failed (and closes it).
func (l *localForwards) drop(conn ssh.Conn) {
	l.mu.Lock()
	for k, c := range l.egress {
		if c == conn {
			delete(l.egress, k)
		}
	}
	l.mu.Unlock()
	_ = conn.Close() // it failed already
}

// closeLogins closes every login to the target: the relays through them end.
func (l *localForwards) closeLogins() {
	l.mu.Lock()
	conns := make([]ssh.Conn, 0, len(l.egress))
	for _, c := range l.egress {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close() // ending the relays is the point
	}
}

// close ends the forwards of an inner connection that is over, and waits for their relays. Their
// context first: a login being made holds l.mu, and it is made under that context.
func (l *localForwards) close() {
	l.endAll(nil)
	l.mu.Lock()
	l.closed = true
	if l.unregister != nil {
		l.unregister()
		l.unregister = nil
	}
	l.mu.Unlock()
	l.closeLogins()
	l.conns.Wait()
}

// forwardSession is the session a forward's login to its target acts for: outer's account and
// addresses, and the factors its connection answered (never a prompt: nothing is behind it).
func forwardSession(s *Server, outer *ssh.ServerConn, a store.Account, answered []string) *session.Session {
	return &session.Session{
		Identity: session.Identity{AccountID: a.ID, Account: a.Name, Key: outer.Permissions.Extensions[extKey],
			Source: outer.RemoteAddr(), Local: outer.LocalAddr(), At: s.env.Deps().Now()},
		Account: a, RemoteAddr: outer.RemoteAddr(), LocalAddr: outer.LocalAddr(),
		In: strings.NewReader(""), Out: io.Discard, Err: io.Discard, RawOut: io.Discard, RawErr: io.Discard,
		TargetFactors: append([]string{}, answered...),
	}
}
