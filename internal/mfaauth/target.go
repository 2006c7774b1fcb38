package mfaauth

import (
	"context"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/audit"
	"gatehouse/internal/mfa"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/netaddr"
	"gatehouse/internal/refusal"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

// TargetFactors is JIT MFA on the transparent ways (a ProxyJump's inner connection, a target in
// the user name), where the connection's target is fixed before any session: the factors that
// connecting acct to target requires (required: the matching accesses' requirements, as the
// connector passes them to ConnectMFA) are asked while the connection authenticates, over
// keyboard-interactive, so the client's own prompt asks them (no terminal needed: scp, sftp,
// rsync, Ansible), chat factors included. It returns nil when nothing is to be asked now (no
// requirement, or a refusal the session will show); else the function that asks, which returns
// the factors passed (policy.Factors' names, for session.Session.TargetFactors).
func (a *Auth) TargetFactors(ctx context.Context, conn ssh.ConnMetadata, acct store.Account, required []string, target string) func(ssh.KeyboardInteractiveChallenge) ([]string, error) {
	f, err := a.Load(ctx, acct.Name)
	if err != nil {
		a.loadFailed(ctx, conn, acct.Name, err)
		return func(ssh.KeyboardInteractiveChallenge) ([]string, error) { return nil, errRefused } // fail closed
	}
	g := a.Global()
	in := a.targetInput(acct, f, required)
	if g.Policy == policy.PolicyDisabled {
		in.Account = disabledPolicyAccount(in.Account)
	}
	d, r := policy.Decide(g, in)
	if r != nil || !d.Need.Required() || d.Ask == 0 {
		return nil
	}
	return func(client ssh.KeyboardInteractiveChallenge) ([]string, error) {
		base := audit.Fields{IPFrom: netaddr.IP(conn.RemoteAddr()), Extra: map[string]string{"target": target, "via": "keyboard-interactive"}}
		ch, err := a.challenger(ctx, "jit", base)
		if err != nil {
			a.loadFailed(ctx, conn, acct.Name, err)
			return nil, errRefused
		}
		if pt := d.Ask &^ policy.ChatFactors; pt != 0 {
			res, err := a.challenge(ctx, ch, mfa.KeyboardInteractive(client), f, pt)
			if err != nil {
				return nil, errRefused
			}
			if res.PasswordExpired {
				// Refused either way.
				_ = a.audit(ctx, "mfa.refused", audit.Fields{Account: acct.Name, Extra: map[string]string{"stage": "jit", "target": target, "reason": "password expired"}})
				return nil, errRefused
			}
		}
		if chat := d.Ask & policy.ChatFactors; chat != 0 {
			if err := a.kbdChat(ctx, conn, acct, client, f, ch, chat, d.Ask&^policy.ChatFactors, "jit", target); err != nil {
				return nil, err
			}
		}
		return strings.Split(d.Ask.String(), "+"), nil
	}
}

func (a *Auth) targetInput(acct store.Account, f Factors, required []string) policy.JITInput {
	reqs := make([]policy.Requirement, 0, len(required))
	for _, r := range required {
		reqs = append(reqs, policy.Requirement(r))
	}
	return policy.JITInput{Action: policy.ActionHost, Account: PolicyAccount(acct, f.Configured), Now: a.now(), Groups: reqs}
}

// TargetCovered is ConnectMFA's rule for a session whose factors were answered when its
// connection authenticated (s.TargetFactors): what policy asks now must all be among them, or
// the session is refused (fail closed: a requirement added since is not asked on a session that
// has no prompt). Pure, tested as a table.
func TargetCovered(ask policy.Factors, answered []string) bool {
	for _, f := range ask.List() {
		if !slices.Contains(answered, policy.Factors(f).String()) {
			return false
		}
	}
	return true
}

// targetMFA is ConnectMFA for a session whose connection answered the target's factors.
func (a *Auth) targetMFA(ctx context.Context, s *session.Session, f Factors, required []string, target string) *refusal.Refusal {
	g := a.Global()
	in := a.targetInput(s.Account, f, required)
	if g.Policy == policy.PolicyDisabled {
		in.Account = disabledPolicyAccount(in.Account)
	}
	d, r := policy.Decide(g, in)
	if r == nil && d.Need.Required() && !TargetCovered(d.Ask, s.TargetFactors) {
		r = &policy.Refusal{Code: "KO_MFA_FAILED", Exit: policy.ExitMFAFailed,
			Message: "Multi-Factor Authentication is required for this host beyond what was answered when this connection was opened: please reconnect"}
	}
	if r != nil {
		a.auditRefusal(ctx, s, "jit", audit.Fields{IPFrom: netaddr.IP(s.RemoteAddr), Extra: map[string]string{"target": target, "via": "keyboard-interactive"}}, r)
		return r
	}
	return nil
}
