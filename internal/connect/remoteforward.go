package connect

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/access"
	"gatehouse/internal/audit"
	"gatehouse/internal/egress"
	"gatehouse/internal/netaddr"
	"gatehouse/internal/refusal"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

// ForwardDial is what a remote forward (ssh -R) needs to log in to its target: the session
// it belongs to (its account, addresses and the factors its connection answered), the target,
// the forwarding decision (access.DecideForwarding: its keys and MFA requirements), the
// account's egress keys, and who takes the channels the target opens back (forwarded-tcpip).
type ForwardDial struct {
	Session  *session.Session
	Target   access.Target
	Decision access.Decision
	Keys     map[string]store.EgressKey
	Channels func(ssh.NewChannel)
	// MFAOnly runs the MFA check alone, for a forward carried by a login made before: DialForward
	// returns nil, nil when it passes (a requirement added since the connection authenticated
	// refuses the forward, as it refuses a new session).
	MFAOnly bool
}

// DialForward logs in to a remote forward's target with the decision's egress keys, under the
// account's host key policy, after the MFA hook (the factors the connection answered when it
// authenticated must cover what policy asks: no prompt is possible here), and returns the
// connection on which the caller sends tcpip-forward. The channels the target opens go to
// fd.Channels. Any error is a refusal (*refusal.Refusal) or a dial error, said to the user by
// the caller.
func (c *Connector) DialForward(ctx context.Context, fd ForwardDial) (ssh.Conn, error) {
	s, t := fd.Session, fd.Target
	if s.TargetFactors == nil {
		s.TargetFactors = []string{} // never prompt: there is no terminal behind a forward
	}
	var reqs []string
	for _, m := range fd.Decision.MFA() {
		reqs = append(reqs, string(m))
	}
	display := access.MachineDisplay(t.User, t.IP.String(), t.Port)
	switch {
	case c.MFA != nil:
		if r := c.MFA(ctx, s, reqs, session.Target{User: t.User, Host: t.Host, IP: t.IP, Port: t.Port, Display: display}); r != nil {
			return nil, r
		}
	case len(reqs) > 0:
		return nil, &refusal.Refusal{Code: "KO_MFA_FAILED", Message: "MFA is required for this host but no second factor is available on this bastion", Exit: refusal.ExitMFAFailed}
	}
	if fd.MFAOnly {
		return nil, nil
	}
	signers, err := c.signers(fd.Decision, fd.Keys)
	if err != nil {
		c.Log.Error("cannot open egress keys", "account", s.Account.Name, "err", err)
		return nil, fmt.Errorf("cannot use your egress keys: %w", err)
	}
	mode, err := egress.ParseHostKeyMode(s.Account.Settings["egress_strict_host_key_checking"])
	if err != nil {
		mode = egress.HostKeyYes // a bad stored value never weakens checking
	}
	base := audit.Fields{UniqID: s.ID, Account: s.Account.Name, IPFrom: netaddr.IP(s.RemoteAddr), PortFrom: netaddr.Port(s.RemoteAddr),
		User: t.User, HostTo: t.Host, IPTo: t.IP.String(), PortTo: t.Port}
	policy := egress.HostKeyPolicy{Mode: mode, Account: s.Account.Name, Store: knownHosts{c.Store}, OnEvent: func(ev egress.HostKeyEvent) {
		if ev.Kind != egress.HostKeyMatched {
			f := base.With(map[string]string{"event": string(ev.Kind), "fingerprint": ev.Fingerprint, "known": fmt.Sprint(ev.Known), "hostport": ev.HostPort})
			_ = c.observe(ctx, "hostkey", f) // the policy decided already; the forward's own events fail closed
		}
	}}
	dialer := c.Dialer
	dialer.Channels = fd.Channels
	client, err := dialer.Dial(ctx, egress.Target{User: t.User, Host: t.IP.String(), Port: t.Port}, signers, policy)
	if err != nil {
		var de *egress.DialError
		if errors.As(err, &de) {
			c.Log.Warn("remote forward: target connection failed", "account", s.Account.Name, "target", display, "reason", string(de.Reason), "err", err)
		}
		return nil, err
	}
	return client, nil
}
