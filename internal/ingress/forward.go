package ingress

// Port forwarding (ssh -L, -D). Both open a direct-tcpip channel, as ProxyJump does. Without a
// --forward grant for the channel's host and port (access.DecideForward), the channel is a jump:
// gatehouse's own SSH server answers it, so a forward reaches nothing but the bastion (and is
// audited as jump.denied when the other end does not speak SSH). With the grant, the bastion
// relays raw TCP to that host and port, and audits the connection with its bytes:
// forward.open, then forward.close with bytes_in (client to target) and bytes_out. -R is
// rforward.go's: the target listens, never the bastion.

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/access"
	"gatehouse/internal/audit"
)

// forwardDialTimeout bounds the connection to a forwarded target.
const forwardDialTimeout = 10 * time.Second

// forward relays a direct-tcpip channel as raw TCP when the account holds a --forward grant
// for its host and port; false means it holds none, and the channel is the jump's.
func (s *Server) forward(ctx context.Context, outer *ssh.ServerConn, nch ssh.NewChannel) bool {
	t, err := ParseJumpTarget(nch.ExtraData())
	if err != nil {
		return false // the jump refuses and audits it
	}
	tgt, err := resolveTarget(ctx, "forward", t)
	if err != nil {
		return false
	}
	base := audit.Fields{HostTo: t.Host, IPTo: tgt.IP.String(), PortTo: t.Port, Extra: map[string]string{"direction": "local"}}
	req := access.ForwardRequest{Direction: access.ForwardLocal, Target: tgt}
	// The factors the connection answered must cover what policy asks now (an MFA requirement
	// added since it authenticated refuses the forward, as it refuses a new session).
	answered := answeredFrom(withAnswered(ctx, outer.Permissions))
	_, facts, err := s.forwardDecision(ctx, outer, req, true, answered)
	if err != nil {
		return false
	}
	d := net.Dialer{Timeout: forwardDialTimeout}
	target, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(tgt.IP, uint16(t.Port)).String())
	if err != nil {
		_ = nch.Reject(ssh.ConnectionFailed, "cannot reach "+net.JoinHostPort(t.Host, strconv.Itoa(t.Port)))
		f := base
		f.Comment = err.Error()
		_ = s.audit(ctx, outer, "forward.failed", f) // refused either way
		return true
	}
	defer func() { _ = target.Close() }() // the relay is over: nothing left to report
	ch, reqs, err := nch.Accept()
	if err != nil {
		return true
	}
	defer func() { _ = ch.Close() }() // the relay is over: nothing left to report
	go ssh.DiscardRequests(reqs)
	start := time.Now()
	if err := s.audit(ctx, outer, "forward.open", base); err != nil {
		// Fail closed: a forward the audit log cannot record carries nothing.
		s.log.Error("cannot audit a forward's start, refusing it", "account", accountOf(outer), "err", err)
		return true
	}
	// The server's shutdown, the connection's end, either side closing, or the account's rights
	// (re-checked as a session's) end the relay.
	rctx, stop := s.liveForward(ctx, outer, facts.Account.ExpiresAt, func(ctx context.Context) error {
		_, _, err := s.forwardDecision(ctx, outer, req, true, answered)
		return err
	})
	f := base
	f.BytesIn, f.BytesOut = pipe(rctx, ch, target.(*net.TCPConn)) // a "tcp" dial gives a *net.TCPConn
	f.Duration = time.Since(start).Seconds()
	f.Comment = endedComment(rctx)
	stop()
	_ = s.audit(context.WithoutCancel(ctx), outer, "forward.close", f) // after the fact: the log counts and alerts a failure
	return true
}
