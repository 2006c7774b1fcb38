package osh

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/audit"
	"gatehouse/internal/netaddr"
	"gatehouse/internal/refusal"
	"gatehouse/internal/store"
)

// SSHAsInput is what the --ssh-as decision reads.
type SSHAsInput struct {
	Caller      string
	CallerAdmin bool
	WithOsh     bool // the line also has --osh
	HasHost     bool // the line names a server
	Target      string
	// TargetFound: the store holds an account named Target (only read when the name is valid).
	TargetFound bool
}

// SSHAsDecision decides --ssh-as ACCOUNT, in The Bastion's order (osh.pl): only admins (106,
// "reserved to bastion administrators", the attempt audited either way); not with --osh (115);
// the account must be valid and exist (107); and there must be a server to connect to (112).
// Impersonating oneself is allowed, as there (it changes nothing). nil: allowed.
func SSHAsDecision(in SSHAsInput) *refusal.Refusal {
	switch {
	case !in.CallerAdmin:
		return refusal.New("KO_RESTRICTED_COMMAND", "Sorry %s, this feature is reserved to bastion administrators. Your attempt has been logged.", in.Caller)
	case in.WithOsh:
		return refusal.New("KO_CONFLICTING_OPTIONS", "Can't use --ssh-as and --osh together. If you want to run a plugin as another user, use --osh adminSudo")
	case access.ValidateAccountName(in.Target) != nil || !in.TargetFound:
		return &refusal.Refusal{Exit: refusal.ExitAccessDenied, Code: "KO_INVALID_ACCOUNT", Message: fmt.Sprintf("Sorry %s, the specified account (%s) is invalid", in.Caller, clipName(in.Target))}
	case !in.HasHost:
		return refusal.New("KO_NO_HOST", "No osh command specified and no host to connect to")
	}
	return nil
}

// clipName keeps a refused account name printable and short in a message.
func clipName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, s)
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return s
}

// sshAs applies --ssh-as: the decision, its audit (the attempt as The Bastion's "sshas" access
// line, allowed or not, then the "security" admin-ssh-as event), and on success the session
// goes on as the impersonated account: its accesses, its keys, its second factors (the admin's
// proactive MFA does not stand for them) and its account gates (a frozen or expired account
// stays refused). The session's identity stays the admin's, so the connection's audit lines
// carry both names. A non-nil result is the refusal to print.
func (e *Env) sshAs(ctx context.Context, s *Session) *Result {
	req := s.Request
	in := SSHAsInput{Caller: s.Account.Name, CallerAdmin: s.Roles.Admin, WithOsh: req.Osh != "", HasHost: req.HasTarget(), Target: req.SSHAs}
	var target store.Account
	if in.CallerAdmin && access.ValidateAccountName(req.SSHAs) == nil {
		var err error
		target, err = e.Store.GetAccount(ctx, req.SSHAs)
		switch {
		case err == nil:
			in.TargetFound = true
		case !errors.Is(err, store.ErrNotFound):
			e.Log.Error("cannot load the account to impersonate; refusing", "account", s.Account.Name, "ssh_as", req.SSHAs, "err", err)
			r := Refuse("KO_ACCESS_DENIED", "Sorry %s, the bastion could not read the account %s, try again later", s.Account.Name, req.SSHAs)
			return &r
		}
	}
	ref := SSHAsDecision(in)
	params := sshAsParams(req)
	err := e.AuditEvent(ctx, audit.Event{Type: "sshas", Fields: audit.Fields{UniqID: s.ID, Account: s.Account.Name, CmdType: "sshas",
		Allowed: audit.Bool(ref == nil), IPFrom: netaddr.IP(s.RemoteAddr), PortFrom: netaddr.Port(s.RemoteAddr),
		IPBastion: netaddr.IP(s.LocalAddr), PortBastion: netaddr.Port(s.LocalAddr), User: req.User, HostTo: req.Host, PortTo: req.Port,
		Params: params, Extra: map[string]string{"sudo-as": req.SSHAs}}})
	if err != nil && ref == nil {
		// Fail closed: an impersonation the audit log cannot record does not happen.
		r := Refused(refusal.AuditUnavailable())
		return &r
	}
	if ref != nil {
		r := Refused(ref)
		return &r
	}
	if ref := access.AccountGate(e.Now(), access.Account{Name: target.Name, Frozen: target.Frozen, FrozenReason: target.FrozenReason, Expiry: target.ExpiresAt}); ref != nil {
		r := Refused(ref)
		return &r
	}
	if err := e.AuditEvent(ctx, audit.Event{Type: "security", Fields: audit.Fields{UniqID: s.ID, Account: s.Account.Name, Plugin: "ssh",
		Params: params, Extra: map[string]string{"type": "admin-ssh-as", "sudo-as": target.Name}}}); err != nil {
		// Fail closed: an impersonation the audit log cannot record does not happen.
		r := Refused(refusal.AuditUnavailable())
		return &r
	}
	fmt.Fprintf(s.Err, "ADMIN SUDO: %s, you'll now impersonate %s, this has been logged.\n", s.Account.Name, target.Name)
	s.Account, s.Roles = target, RolesOf(target)
	s.MFAUntil, s.MFAProofs = time.Time{}, nil
	return nil
}

// sshAsParams is the connection as The Bastion's security line writes it: --user, --host,
// --port, then the remote command.
func sshAsParams(req Request) []string {
	var p []string
	if req.User != "" {
		p = append(p, "--user", req.User)
	}
	if req.Host != "" {
		p = append(p, "--host", req.Host)
	}
	if req.Port != 0 {
		p = append(p, "--port", strconv.Itoa(req.Port))
	}
	if c := req.Command(); c != "" {
		p = append(p, c)
	}
	return p
}
