package mfaauth

import (
	"gatehouse/internal/audit"
	"gatehouse/internal/netaddr"

	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/mfa/password"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/refusal"
	"gatehouse/internal/session"
)

// The commands that stay usable with an expired password (besides changing it).
const setupPasswordCommand = "selfMFASetupPassword"

func internalRefusal(account string) *refusal.Refusal {
	return &refusal.Refusal{Code: "KO_MFA_FAILED", Exit: policy.ExitMFAFailed,
		Message: fmt.Sprintf("Sorry %s, the bastion could not read your Multi-Factor Authentication settings; try again later", account)}
}

// expiredRefusal refuses everything but the password change once the password has aged.
func expiredRefusal(account string) *refusal.Refusal {
	return expiredPolicyRefusal(account)
}

func expiredPolicyRefusal(account string) *policy.Refusal {
	return &policy.Refusal{Code: "KO_MFA_PASSWORD_SETUP_REQUIRED", Exit: policy.ExitMFAPasswordSetupRequired,
		Message: fmt.Sprintf("Sorry %s, your Multi-Factor Authentication password has expired (%s), please use the `--osh %s' option to change it",
			account, password.ExpiredLine, setupPasswordCommand)}
}

func commandName(cmd *session.CommandInfo) string {
	if cmd == nil {
		return ""
	}
	return cmd.Name
}

// SetupGate is osh.Hooks.SetupGate: before any command (cmd) or host connection (cmd nil), it
// refuses accounts that must first enrol a factor (122, 123, 124), and accounts whose
// password, asked at login, has expired (only selfMFASetupPassword, help and info then run).
//
// It asks no factor itself: in JIT mode the account's own --mfa-*-required yes flags are part of
// each action's requirement (policy.Decide), asked with the groups' in the connector's phase.
func (a *Auth) SetupGate(ctx context.Context, s *session.Session, cmd *session.CommandInfo) *refusal.Refusal {
	f, err := a.Load(ctx, s.Account.Name)
	if err != nil {
		a.log().Error("cannot read MFA factors; refusing", "account", s.Account.Name, "err", err)
		return internalRefusal(s.Account.Name)
	}
	pa := PolicyAccount(s.Account, f.Configured)
	g := a.Global()
	pc := policy.Command{Name: commandName(cmd)}
	if cmd != nil {
		pc.SetupNotRequired = cmd.MFASetupNotRequired
	}
	if r := policy.SetupGate(g, pa, pc); r != nil {
		// Refused either way.
		_ = a.audit(ctx, "mfa.setup_required", audit.Fields{Account: s.Account.Name, Extra: map[string]string{"command": pc.Name, "error_code": r.Code}})
		return r
	}
	// An expired password that was just answered at login allows nothing but changing it, as
	// pam_unix forces a change.
	if im := policy.ImmediateFactors(g, pa); im.Factors.Has(policy.Password) && pc.Name != setupPasswordCommand && !pc.SetupNotRequired {
		if a.Aging().Status(f.Cred.PasswordChanged, a.now()).Expired {
			// Refused either way.
			_ = a.audit(ctx, "mfa.refused", audit.Fields{Account: s.Account.Name, Extra: map[string]string{"command": pc.Name, "reason": "password expired"}})
			return expiredRefusal(s.Account.Name)
		}
	}
	return nil
}

// requirement merges a command's built-in mfa_required with the operator's: the built-in is
// never lowered, the operator's adds to it (both apply when both name a factor).
func (a *Auth) requirement(cmd session.CommandInfo) (main policy.Requirement, extra []policy.Requirement) {
	builtin := policy.Requirement(cmd.MFARequired)
	op := policy.Requirement(strings.TrimSpace(a.Config().Plugin[cmd.Name].MFARequired))
	switch {
	case op == "" || op == policy.RequireNone:
		return builtin, nil
	case builtin == "" || builtin == policy.RequireNone:
		return op, nil
	}
	return builtin, []policy.Requirement{op}
}

// JIT is osh.Hooks.JIT: it asks the factors cmd requires, on the session's terminal, just
// before it runs. Nil lets the command run.
func (a *Auth) JIT(ctx context.Context, s *session.Session, cmd session.CommandInfo) *refusal.Refusal {
	main, extra := a.requirement(cmd)
	g := a.Global()
	if main == "" && len(extra) == 0 && g.Mode != policy.ModeJIT {
		return nil // nothing can require MFA: no store read on the common path
	}
	f, err := a.Load(ctx, s.Account.Name)
	if err != nil {
		a.log().Error("cannot read MFA factors; refusing", "account", s.Account.Name, "err", err)
		return internalRefusal(s.Account.Name)
	}
	in := a.actionInput(s, policy.ActionPlugin, PolicyAccount(s.Account, f.Configured))
	in.Command = policy.Command{Name: cmd.Name, MFARequired: main, SetupNotRequired: cmd.MFASetupNotRequired}
	in.Groups = extra
	return a.runJIT(ctx, s, f, in, nil, audit.Fields{Extra: map[string]string{"command": cmd.Name}})
}

// ConnectMFA is the connector's MFA hook (connect.MFAFunc), called for every connection: required
// are the distinct requirements of the accesses that matched the target ("password", "totp",
// "any", "webhook", "approval"); in JIT mode the account's own flags join them (policy.Decide).
func (a *Auth) ConnectMFA(ctx context.Context, s *session.Session, required []string, target session.Target) *refusal.Refusal {
	f, err := a.Load(ctx, s.Account.Name)
	if err != nil {
		a.log().Error("cannot read MFA factors; refusing", "account", s.Account.Name, "err", err)
		return internalRefusal(s.Account.Name)
	}
	if s.TargetFactors != nil {
		// Answered on the client's own prompt when the connection authenticated (target.go).
		return a.targetMFA(ctx, s, f, required, target.Display)
	}
	reqs := make([]policy.Requirement, 0, len(required))
	for _, r := range required {
		reqs = append(reqs, policy.Requirement(r))
	}
	in := a.actionInput(s, policy.ActionHost, PolicyAccount(s.Account, f.Configured))
	in.Groups = reqs
	return a.runJIT(ctx, s, f, in, &target, audit.Fields{Extra: map[string]string{"target": target.Display}})
}

// actionInput is the part of policy.Decide's input that the session holds: the proofs of
// proactive MFA (counted only while the session is still validated: `nomfa` or the expiry
// ends them), the clock, their validity, and batch mode.
func (a *Auth) actionInput(s *session.Session, action policy.Action, pa policy.Account) policy.JITInput {
	now := a.now()
	in := policy.JITInput{Action: action, Account: pa, Now: now, Batch: s.InBatch,
		Validity: time.Duration(a.Config().InteractiveModeProactiveMFAexpiration) * time.Second}
	if s.MFAValidated(now) {
		for name, at := range s.MFAProofs {
			if f, ok := factorNamed(name); ok {
				in.Proven = append(in.Proven, policy.Proof{Factor: f, At: at})
			}
		}
	}
	return in
}

// factorNamed is the password or TOTP factor named name (what proactive MFA records).
func factorNamed(name string) (policy.Factor, bool) {
	for _, f := range []policy.Factor{policy.Password, policy.TOTP} {
		if f.String() == name {
			return f, true
		}
	}
	return 0, false
}

// runJIT runs a JIT phase on the session and audits its refusal.
// target is the connection's, nil for a command.
func (a *Auth) runJIT(ctx context.Context, s *session.Session, f Factors, in policy.JITInput, target *session.Target, base audit.Fields) *refusal.Refusal {
	g := a.Global()
	if g.Policy == policy.PolicyDisabled {
		// With accountMFAPolicy disabled nobody can enrol, so an account's "yes" must not
		// require a factor it lacks (that would lock it out); factors already set still count.
		in.Account = disabledPolicyAccount(in.Account)
	}
	d, r := policy.Decide(g, in)
	if r == nil && !d.Need.Required() {
		return nil
	}
	base.IPFrom = netaddr.IP(s.RemoteAddr)
	if r == nil {
		if r = policy.TerminalRefusal(d.Ask, s.HasTerminal()); r != nil {
			fmt.Fprintln(Out(s), policy.EnteringLine(in.Action, in.Account.Name))
			base = base.With(map[string]string{"reason": "no terminal"})
			a.auditRefusal(ctx, s, "jit", base, r)
			return r
		}
	}
	if r == nil && d.Ask&policy.ChatFactors != 0 {
		return a.runChatJIT(ctx, s, f, in, d, target, base)
	}
	ch, err := a.challenger(ctx, "jit", base)
	if err != nil {
		a.log().Error("cannot prepare the MFA phase; refusing", "account", s.Account.Name, "err", err)
		return internalRefusal(s.Account.Name)
	}
	out := Out(s)
	p, gd := a.guarded(ctx, a.Prompt(s, out))
	res, ref := ch.RunJIT(ctx, out, p, g, in, f.Cred)
	gd.release()
	if ref != nil {
		a.auditRefusal(ctx, s, "jit", base, ref)
		return ref
	}
	a.afterSuccess(ctx, f, res)
	if res.PasswordExpired && base.Extra["command"] != setupPasswordCommand {
		// Refused either way.
		_ = a.audit(ctx, "mfa.refused", audit.Fields{Account: s.Account.Name, Extra: map[string]string{"stage": "jit", "reason": "password expired"}})
		return expiredRefusal(s.Account.Name)
	}
	return nil
}

func disabledPolicyAccount(pa policy.Account) policy.Account {
	if pa.PasswordRequired == policy.FlagYes && !pa.Configured.Has(policy.Password) {
		pa.PasswordRequired = policy.FlagNo
	}
	if pa.TOTPRequired == policy.FlagYes && !pa.Configured.Has(policy.TOTP) {
		pa.TOTPRequired = policy.FlagNo
	}
	return pa
}

func (a *Auth) auditRefusal(ctx context.Context, s *session.Session, stage string, base audit.Fields, r *policy.Refusal) {
	// The base's own fields win, as they did over these.
	f := audit.Fields{Account: s.Account.Name, Extra: map[string]string{"stage": stage, "error_code": r.Code, "exit": strconv.Itoa(r.Exit)}}
	if base.Account != "" {
		f.Account = base.Account
	}
	f.IPFrom, f.User = base.IPFrom, base.User
	f = f.With(base.Extra)
	// Refused either way.
	_ = a.audit(ctx, "mfa.phase_refused", f)
}

// ProactiveMFA is osh.Hooks.ProactiveMFA: --proactive-mfa and the interactive `mfa` built-in.
// On success it returns the proof: the session counts as validated for
// interactiveModeProactiveMFAexpiration seconds, which shows as [MFA-OK] in the interactive
// prompt. It writes nothing into the session; the command language keeps the proof.
func (a *Auth) ProactiveMFA(ctx context.Context, s *session.Session) (session.Proof, *refusal.Refusal) {
	f, err := a.Load(ctx, s.Account.Name)
	if err != nil {
		a.log().Error("cannot read MFA factors; refusing", "account", s.Account.Name, "err", err)
		return session.Proof{}, internalRefusal(s.Account.Name)
	}
	base := audit.Fields{IPFrom: netaddr.IP(s.RemoteAddr), Extra: map[string]string{"interactive": strconv.FormatBool(s.Interactive)}}
	ch, err := a.challenger(ctx, "proactive", base)
	if err != nil {
		a.log().Error("cannot prepare the MFA phase; refusing", "account", s.Account.Name, "err", err)
		return session.Proof{}, internalRefusal(s.Account.Name)
	}
	out := Out(s)
	pa := PolicyAccount(s.Account, f.Configured)
	if d, r := policy.Decide(a.Global(), policy.JITInput{Action: policy.ActionProactive, Account: pa}); r == nil {
		if r = policy.TerminalRefusal(d.Ask, s.HasTerminal()); r != nil {
			base = base.With(map[string]string{"reason": "no terminal"})
			a.auditRefusal(ctx, s, "proactive", base, r)
			return session.Proof{}, r
		}
	}
	p, gd := a.guarded(ctx, a.Prompt(s, out))
	res, ref := ch.RunProactive(ctx, out, p, pa, f.Cred, s.Interactive)
	gd.release()
	if ref != nil {
		a.auditRefusal(ctx, s, "proactive", base, ref)
		return session.Proof{}, ref
	}
	a.afterSuccess(ctx, f, res)
	if res.PasswordExpired {
		// An expired password proves nothing but that it must be changed: no proof is kept.
		// Refused either way.
		_ = a.audit(ctx, "mfa.refused", audit.Fields{Account: s.Account.Name, Extra: map[string]string{"stage": "proactive", "reason": "password expired"}})
		return session.Proof{}, expiredRefusal(s.Account.Name)
	}
	now := a.now()
	e := policy.Elevate(now, time.Duration(a.Config().InteractiveModeProactiveMFAexpiration)*time.Second)
	// The proofs replace earlier ones: only what this phase checked counts from now on.
	proof := session.Proof{Until: e.Until, Factors: map[string]time.Time{}}
	for _, f := range res.Passed.List() {
		proof.Factors[f.String()] = now
	}
	if s.Interactive {
		for _, l := range e.ElevatedLines(now) {
			fmt.Fprintln(out, l)
		}
	}
	return proof, nil
}
