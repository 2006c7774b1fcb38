package mfaauth

import (
	"gatehouse/internal/netaddr"

	"context"
	"fmt"
	"strings"
	"time"

	"gatehouse/internal/mfa/password"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/osh"
)

// The commands that stay usable with an expired password (besides changing it).
const setupPasswordCommand = "selfMFASetupPassword"

func toResult(r *policy.Refusal) *osh.Result {
	return &osh.Result{Code: r.ErrorCode, Message: r.Message, Exit: r.ExitCode}
}

func internalRefusal(account string) *osh.Result {
	return &osh.Result{Code: "KO_MFA_FAILED", Exit: policy.ExitMFAFailed,
		Message: fmt.Sprintf("Sorry %s, the bastion could not read your Multi-Factor Authentication settings; try again later", account)}
}

// expiredRefusal refuses everything but the password change once the password has aged.
func expiredRefusal(account string) *osh.Result {
	return &osh.Result{Code: "KO_MFA_PASSWORD_SETUP_REQUIRED", Exit: policy.ExitMFAPasswordSetupRequired,
		Message: fmt.Sprintf("Sorry %s, your Multi-Factor Authentication password has expired (%s), please use the `--osh %s' option to change it",
			account, password.ExpiredLine, setupPasswordCommand)}
}

func commandName(cmd *osh.Command) string {
	if cmd == nil {
		return ""
	}
	return cmd.Name
}

// SetupGate is osh.Hooks.SetupGate: before any command (cmd) or host connection (cmd nil), it
// refuses accounts that must first enrol a factor (122, 123, 124), and accounts whose
// password, asked at login, has expired (only selfMFASetupPassword, help and info then run).
//
// In JIT mode, the account's own --mfa-*-required yes flags also apply to host connections;
// the connector only calls its MFA hook for accesses that require MFA, so that phase runs here,
// before the connection, and counts as validated for the rest of the session's request.
func (a *Auth) SetupGate(ctx context.Context, s *osh.Session, cmd *osh.Command) *osh.Result {
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
		a.audit(ctx, "mfa.setup_required", map[string]any{"account": s.Account.Name, "command": pc.Name, "error_code": r.ErrorCode})
		return toResult(r)
	}
	// An expired password that was just answered at login allows nothing but changing it, as
	// pam_unix forces a change.
	if im := policy.ImmediateFactors(g, pa); im.Factors.Has(policy.Password) && pc.Name != setupPasswordCommand && !pc.SetupNotRequired {
		if a.Aging().Status(f.Cred.PasswordChanged, a.now()).Expired {
			a.audit(ctx, "mfa.refused", map[string]any{"account": s.Account.Name, "command": pc.Name, "reason": "password expired"})
			return expiredRefusal(s.Account.Name)
		}
	}
	if cmd == nil && g.Mode == policy.ModeJIT && !s.MFAValidated(a.now()) &&
		(pa.PasswordRequired == policy.FlagYes || pa.TOTPRequired == policy.FlagYes ||
			pa.WebhookRequired == policy.FlagYes || pa.ApprovalRequired == policy.FlagYes) {
		in := policy.JITInput{Action: policy.ActionHost, Account: pa, Batch: s.InBatch}
		if r := a.runJIT(ctx, s, f, in, map[string]any{"target": s.Request.Host}); r != nil {
			return r
		}
		s.MFAUntil = a.now().Add(time.Duration(a.Config().InteractiveModeProactiveMFAexpiration) * time.Second)
	}
	return nil
}

// requirement merges a command's built-in mfa_required with the operator's: the built-in is
// never lowered, the operator's adds to it (both apply when both name a factor).
func (a *Auth) requirement(cmd *osh.Command) (main policy.Requirement, extra []policy.Requirement) {
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
func (a *Auth) JIT(ctx context.Context, s *osh.Session, cmd *osh.Command) *osh.Result {
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
	in := policy.JITInput{Action: policy.ActionPlugin, Account: PolicyAccount(s.Account, f.Configured),
		Command: policy.Command{Name: cmd.Name, MFARequired: main, SetupNotRequired: cmd.MFASetupNotRequired},
		Groups:  extra, Proactive: s.MFAValidated(a.now()), Batch: s.InBatch}
	return a.runJIT(ctx, s, f, in, map[string]any{"command": cmd.Name})
}

// ConnectMFA is the connector's MFA hook (connect.MFAFunc): required are the distinct
// requirements of the accesses that matched the target ("password", "totp", "any").
func (a *Auth) ConnectMFA(ctx context.Context, s *osh.Session, required []string, target string) *osh.Result {
	f, err := a.Load(ctx, s.Account.Name)
	if err != nil {
		a.log().Error("cannot read MFA factors; refusing", "account", s.Account.Name, "err", err)
		return internalRefusal(s.Account.Name)
	}
	reqs := make([]policy.Requirement, 0, len(required))
	for _, r := range required {
		reqs = append(reqs, policy.Requirement(r))
	}
	in := policy.JITInput{Action: policy.ActionHost, Account: PolicyAccount(s.Account, f.Configured),
		Groups: reqs, Proactive: s.MFAValidated(a.now()), Batch: s.InBatch}
	return a.runJIT(ctx, s, f, in, map[string]any{"target": target})
}

// runJIT runs a JIT phase on the session and audits its refusal.
func (a *Auth) runJIT(ctx context.Context, s *osh.Session, f Factors, in policy.JITInput, base map[string]any) *osh.Result {
	g := a.Global()
	if g.Policy == policy.PolicyDisabled {
		// With accountMFAPolicy disabled nobody can enrol, so an account's "yes" must not
		// require a factor it lacks (that would lock it out); factors already set still count.
		in.Account = disabledPolicyAccount(in.Account)
	}
	d, r := policy.JIT(g, in)
	if r == nil && !d.Need.Required() {
		return nil
	}
	base["ip_from"] = netaddr.IP(s.RemoteAddr)
	if r == nil && d.Ask&policy.ChatFactors != 0 {
		return a.runChatJIT(ctx, s, f, in, d, base)
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
		return toResult(ref)
	}
	a.afterSuccess(ctx, f, res)
	if res.PasswordExpired && base["command"] != setupPasswordCommand {
		a.audit(ctx, "mfa.refused", map[string]any{"account": s.Account.Name, "stage": "jit", "reason": "password expired"})
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

func (a *Auth) auditRefusal(ctx context.Context, s *osh.Session, stage string, base map[string]any, r *policy.Refusal) {
	f := map[string]any{"account": s.Account.Name, "stage": stage, "error_code": r.ErrorCode, "exit": r.ExitCode}
	for k, v := range base {
		f[k] = v
	}
	a.audit(ctx, "mfa.phase_refused", f)
}

// ProactiveMFA is osh.Hooks.ProactiveMFA: --proactive-mfa and the interactive `mfa` built-in.
// On success the session counts as validated for interactiveModeProactiveMFAexpiration
// seconds (s.MFAUntil), which shows as [MFA-OK] in the interactive prompt.
func (a *Auth) ProactiveMFA(ctx context.Context, s *osh.Session) *osh.Result {
	f, err := a.Load(ctx, s.Account.Name)
	if err != nil {
		a.log().Error("cannot read MFA factors; refusing", "account", s.Account.Name, "err", err)
		return internalRefusal(s.Account.Name)
	}
	base := map[string]any{"ip_from": netaddr.IP(s.RemoteAddr), "interactive": s.Interactive}
	ch, err := a.challenger(ctx, "proactive", base)
	if err != nil {
		a.log().Error("cannot prepare the MFA phase; refusing", "account", s.Account.Name, "err", err)
		return internalRefusal(s.Account.Name)
	}
	out := Out(s)
	p, gd := a.guarded(ctx, a.Prompt(s, out))
	res, ref := ch.RunProactive(ctx, out, p, PolicyAccount(s.Account, f.Configured), f.Cred, s.Interactive)
	gd.release()
	if ref != nil {
		a.auditRefusal(ctx, s, "proactive", base, ref)
		return toResult(ref)
	}
	a.afterSuccess(ctx, f, res)
	now := a.now()
	e := policy.Elevate(now, time.Duration(a.Config().InteractiveModeProactiveMFAexpiration)*time.Second)
	s.MFAUntil = e.Until
	if s.Interactive {
		for _, l := range e.ElevatedLines(now) {
			fmt.Fprintln(out, l)
		}
	}
	return nil
}
