package mfaauth

import (
	"gatehouse/internal/audit"
	"gatehouse/internal/netaddr"

	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/accessdb"
	"gatehouse/internal/mfa"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/notify"
	"gatehouse/internal/notify/approval"
	"gatehouse/internal/refusal"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

// Account settings of the chat factors (accountModify's options with underscores).
const (
	SettingWebhookRequired  = "mfa_webhook_required"
	SettingApprovalRequired = "mfa_approval_required"
	// SettingSlackUserID maps a Slack user ("T0123/U0456", or "U0456" for any workspace) to the
	// account, so that the account's clicks on Approve/Deny are recognised.
	SettingSlackUserID = "slack_user_id"
)

// chatFlag reads a chat factor's yes|no|bypass setting: absent is the zero Flag (no), unknown
// values count as yes (fail closed), as for the other flags.
func chatFlag(acct store.Account, key string) policy.Flag {
	v, ok := acct.Settings[key]
	if !ok {
		return ""
	}
	f, err := policy.ParseFlag(v)
	if err != nil {
		return policy.FlagYes
	}
	return f
}

// ChatRequest is what a chat factor is asked for: who, from where, to what, and the groups whose
// channels carry it (the groups whose access matched a host; for a login or a command, the
// account's groups).
type ChatRequest struct {
	Account, SourceIP, Target, Command string
	Groups                             []string
	// Stage is "immediate" or "jit"; MaxWait, when not zero, bounds an approval's lifetime (the
	// login grace time at the immediate stage).
	Stage   string
	MaxWait time.Duration
}

// Chat delivers the chat factors (internal/notifywire implements it over the configured
// channels). A nil Chat makes every chat factor undelivered: refused, or the fallback.
type Chat interface {
	// Available reports which chat factors have a channel for r.
	Available(ctx context.Context, r ChatRequest) policy.Factors
	// StartCode posts a fresh code; an error (wrapping notify.ErrUndelivered or ErrNoChannel)
	// means it did not reach the channel.
	StartCode(ctx context.Context, r ChatRequest) (*notify.CodeChallenge, error)
	// StartApproval posts an approval request; an error means it was not delivered.
	StartApproval(ctx context.Context, r ChatRequest) (approval.Record, error)
	// WaitApproval waits for the decision, calling tick with the time left about every second;
	// nil error only when approved.
	WaitApproval(ctx context.Context, id string, tick func(left time.Duration)) (approval.Record, error)
	// Fallback is the operator's choice when a chat factor is not delivered.
	Fallback() policy.Fallback
}

// chatStep runs the chat factors of one phase. The prompt side differs between the immediate
// stage (keyboard-interactive messages) and a session (its terminal); the rest is shared.
type chatStep struct {
	a     *Auth
	req   ChatRequest
	base  audit.Fields // audit fields
	pa    policy.Account
	f     Factors
	ask   func(ctx context.Context, instruction, question string) (string, error)
	say   func(ctx context.Context, line string) error
	tick  func(ctx context.Context, label string, left time.Duration) error
	other func(ctx context.Context, ask policy.Factors) error // the Challenger, for the fallback
}

// errChatRefused carries the refusal to show.
type errChatRefused struct{ r *policy.Refusal }

func (e *errChatRefused) Error() string { return e.r.Message }

// run asks each chat factor of ask in order; passed are the factors already validated in this
// phase (for the fallback rule). It returns nil only when every one passed (or its fallback did).
func (c *chatStep) run(ctx context.Context, ask, passed policy.Factors) error {
	for _, f := range []policy.Factor{policy.Webhook, policy.Approval} {
		if !ask.Has(f) {
			continue
		}
		err := c.one(ctx, f)
		var und *undelivered
		if errors.As(err, &und) {
			fb := policy.FallbackNone
			if c.a.Chat != nil {
				fb = c.a.Chat.Fallback()
			}
			instead, ref := policy.OnUndelivered(fb, f, c.pa, passed)
			if ref != nil {
				// Refused either way.
				_ = c.audit(ctx, "mfa.refused", f, map[string]string{"reason": "undelivered: " + und.Error()})
				_ = c.say(ctx, ref.Message)
				return &errChatRefused{ref}
			}
			// The fallback factor's own pass is what fails closed.
			_ = c.audit(ctx, "mfa.fallback", f, map[string]string{"reason": "undelivered: " + und.Error(), "fallback": instead.String()})
			_ = c.say(ctx, fmt.Sprintf("The team chat could not be reached; asking your %s instead.", instead))
			if err := c.other(ctx, instead); err != nil {
				return err
			}
			passed |= instead
			continue
		}
		if err != nil {
			return err
		}
		passed |= f
	}
	return nil
}

// undelivered: the factor could not reach the chat (no channel, channel down, refused, timeout).
type undelivered struct{ err error }

func (u *undelivered) Error() string { return u.err.Error() }

func (c *chatStep) audit(ctx context.Context, typ string, f policy.Factor, extra map[string]string) error {
	fields := c.base.With(extra)
	fields.Account, fields.Factor = c.req.Account, f.String()
	return c.a.audit(ctx, typ, fields)
}

func (c *chatStep) one(ctx context.Context, f policy.Factor) error {
	chat := c.a.Chat
	if chat == nil || !chat.Available(ctx, c.req).Has(f) {
		return &undelivered{notify.ErrNoChannel}
	}
	name := f.String()
	attempt, err := c.a.Limiter().Begin(ctx, c.req.Account, name, nil)
	if err != nil {
		// Refused either way.
		_ = c.audit(ctx, "mfa.refused", f, map[string]string{"reason": err.Error()})
		r := policy.FailedRefusal()
		r.Message += " (" + err.Error() + ")"
		_ = c.say(ctx, r.Message)
		return &errChatRefused{r}
	}
	if f == policy.Webhook {
		err = c.code(ctx)
	} else {
		err = c.approval(ctx)
	}
	var und *undelivered
	if errors.As(err, &und) {
		// Not the user's failure: neither counts towards the lock nor clears it, and the try
		// is not left pending (it would hold a place until limit.PendingTTL).
		_ = attempt.Abandon(ctx)
		return err
	}
	if doneErr := attempt.Done(ctx, err == nil); doneErr != nil && err == nil {
		return &errChatRefused{policy.FailedRefusal()}
	}
	return err
}

// code posts a code and checks the one answer (one code, one try).
func (c *chatStep) code(ctx context.Context) error {
	ch, err := c.a.Chat.StartCode(ctx, c.req)
	if err != nil {
		return &undelivered{err}
	}
	// The pass is what fails closed.
	_ = c.audit(ctx, "mfa.prompt", policy.Webhook, map[string]string{"label": ch.Label, "try": "1"})
	answer, err := c.ask(ctx, policy.CodeBanner(ch.Label), policy.CodePrompt(ch.Label))
	if err != nil {
		_ = ch.Verify("") // use the challenge up
		// Refused either way.
		_ = c.audit(ctx, "mfa.refused", policy.Webhook, map[string]string{"label": ch.Label, "reason": "aborted: " + err.Error()})
		return &errChatRefused{policy.FailedRefusal()}
	}
	if len(answer) > mfa.DefaultMaxAnswer {
		answer = "" // still consumes the challenge below, and fails
	}
	switch err := ch.Verify(answer); {
	case err == nil:
		if err := c.audit(ctx, "mfa.pass", policy.Webhook, map[string]string{"label": ch.Label, "try": "1"}); err != nil {
			// Fail closed: a pass the audit log cannot record lets nobody in.
			return &errChatRefused{refusal.AuditUnavailable()}
		}
		return nil
	default:
		reason := "wrong code"
		switch {
		case errors.Is(err, notify.ErrCodeExpired):
			reason = "code expired"
		case errors.Is(err, notify.ErrCodeUsed):
			reason = "code already used"
		}
		// Refused either way.
		_ = c.audit(ctx, "mfa.fail", policy.Webhook, map[string]string{"label": ch.Label, "try": "1", "reason": reason})
		ref := policy.CodeRefusal(ch.Label, reason)
		_ = c.say(ctx, ref.Message)
		return &errChatRefused{ref}
	}
}

// approval posts a request and waits for a person, with a countdown.
func (c *chatStep) approval(ctx context.Context) error {
	rec, err := c.a.Chat.StartApproval(ctx, c.req)
	if err != nil {
		return &undelivered{err}
	}
	label, id := rec.Label, rec.ID
	// The pass is what fails closed.
	_ = c.audit(ctx, "mfa.prompt", policy.Approval, map[string]string{"label": label, "request": id, "try": "1"})
	if err := c.say(ctx, policy.ApprovalBanner(rec.Label, rec.Expires.Sub(rec.Created))); err != nil {
		return &errChatRefused{policy.FailedRefusal()}
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.req.MaxWait > 0 {
		wctx, cancel = context.WithTimeout(wctx, c.req.MaxWait)
		defer cancel()
	}
	var tickErr error
	rec, err = c.a.Chat.WaitApproval(wctx, id, func(left time.Duration) {
		if tickErr == nil {
			if tickErr = c.tick(wctx, label, left); tickErr != nil {
				cancel() // the user is gone: Wait expires the request
			}
		}
	})
	if err == nil && rec.State == approval.Approved {
		if err := c.audit(ctx, "mfa.pass", policy.Approval, map[string]string{"label": label, "request": id, "try": "1", "approver": rec.DecidedBy.Account, "via": rec.DecidedBy.Via, "chat_user": rec.DecidedBy.ChatUser}); err != nil {
			// Fail closed: an approval the audit log cannot record lets nobody in.
			return &errChatRefused{refusal.AuditUnavailable()}
		}
		if err := c.say(ctx, policy.ApprovedLine(label, rec.DecidedBy.Account)); err != nil {
			return &errChatRefused{policy.FailedRefusal()}
		}
		return nil
	}
	reason := "no answer in time"
	switch {
	case errors.Is(err, approval.ErrDenied):
		reason = "denied"
		if rec.DecidedBy.Account != "" {
			reason += " by " + rec.DecidedBy.Account
		}
	case tickErr != nil:
		reason = "client gone"
	case err != nil && !errors.Is(err, approval.ErrExpired) && !errors.Is(err, context.DeadlineExceeded):
		reason = "error: " + err.Error()
	}
	// Refused either way.
	_ = c.audit(ctx, "mfa.fail", policy.Approval, map[string]string{"label": label, "request": id, "try": "1", "reason": reason, "approver": rec.DecidedBy.Account, "via": rec.DecidedBy.Via})
	ref := policy.ApprovalRefusal(label, reason)
	_ = c.say(ctx, ref.Message)
	return &errChatRefused{ref}
}

// chatGroups are the groups whose channels carry a chat factor for s: for a host connection (the
// connector resolved the target it passes), the groups whose access matches it; otherwise the
// groups the account is a member of.
func (a *Auth) chatGroups(ctx context.Context, s *session.Session, host *session.Target) []string {
	if host != nil && host.IP.IsValid() {
		in, err := accessdb.Load(ctx, a.Store, s.Account)
		if err == nil {
			t := access.Target{User: host.User, Host: host.Host, IP: host.IP, Port: host.Port}
			if d, err := access.Decide(a.now(), in.Account, in.Groups, in.Personal, t); err == nil {
				var out []string
				for _, g := range d.Grants {
					if g.Group != "" {
						out = append(out, g.Group)
					}
				}
				return out
			}
		}
	}
	return a.memberGroups(ctx, s.Account.Name)
}

func (a *Auth) memberGroups(ctx context.Context, account string) []string {
	gs, err := a.Store.GroupsOf(ctx, account)
	if err != nil {
		a.log().Warn("cannot read the groups of an account; using the default chat channels", "account", account, "err", err)
		return nil
	}
	var out []string
	for _, g := range gs {
		if g.Has(store.RoleMember, account) {
			out = append(out, g.Name)
		}
	}
	return out
}

// runChatJIT is the JIT phase when chat factors are asked: The Bastion's lines around it, the
// password/TOTP factors by the Challenger, then the chat factors on the session's terminal.
func (a *Auth) runChatJIT(ctx context.Context, s *session.Session, f Factors, in policy.JITInput, d policy.JITDecision, host *session.Target, base audit.Fields) *refusal.Refusal {
	out := Out(s)
	if _, err := fmt.Fprintln(out, policy.EnteringLine(in.Action, in.Account.Name)); err != nil {
		return policy.FailedRefusal()
	}
	ch, err := a.challenger(ctx, "jit", base)
	if err != nil {
		a.log().Error("cannot prepare the MFA phase; refusing", "account", s.Account.Name, "err", err)
		return internalRefusal(s.Account.Name)
	}
	prompt := a.Prompt(s, out)
	fail := func(r *policy.Refusal) *refusal.Refusal {
		fmt.Fprintln(out, policy.FailureLine)
		a.auditRefusal(ctx, s, "jit", base, r)
		return r
	}
	other := func(ctx context.Context, ask policy.Factors) error {
		if r := policy.TerminalRefusal(ask, s.HasTerminal()); r != nil { // a fallback to the password
			return &errChatRefused{r}
		}
		p, gd := a.guarded(ctx, prompt)
		defer gd.release()
		res, err := ch.Challenge(ctx, p, f.Cred, ask)
		if err != nil {
			var e *mfa.Error
			if errors.As(err, &e) {
				return &errChatRefused{e.Refusal()}
			}
			return &errChatRefused{policy.FailedRefusal()}
		}
		a.afterSuccess(ctx, f, res)
		if res.PasswordExpired && base.Extra["command"] != setupPasswordCommand {
			// Refused either way.
			_ = a.audit(ctx, "mfa.refused", audit.Fields{Account: s.Account.Name, Extra: map[string]string{"stage": "jit", "reason": "password expired"}})
			return &errChatRefused{expiredPolicyRefusal(s.Account.Name)}
		}
		return nil
	}
	// A factor that earlier proofs met for this action counts as checked: falling back to it
	// would turn two factors into one.
	passed := d.Satisfied
	if pt := d.Ask &^ policy.ChatFactors; pt != 0 {
		if err := other(ctx, pt); err != nil {
			return fail(refusalOf(err))
		}
		passed |= pt
	}
	target, command := base.Extra["target"], base.Extra["command"]
	step := &chatStep{a: a, base: base, pa: in.Account, f: f, other: other,
		req: ChatRequest{Account: s.Account.Name, SourceIP: netaddr.IP(s.RemoteAddr), Target: target, Command: command,
			Groups: a.chatGroups(ctx, s, host), Stage: "jit"},
		ask: func(ctx context.Context, instruction, question string) (string, error) {
			answers, err := prompt(ctx, "", instruction, []string{question}, []bool{false})
			if err != nil {
				return "", err
			}
			return answers[0], nil
		},
		say: func(_ context.Context, line string) error {
			if s.PTY {
				line = "\r\x1b[K" + line // end a countdown line in place
			}
			_, err := fmt.Fprintln(out, line)
			return err
		},
		tick: sessionCountdown(out, s.PTY),
	}
	if err := step.run(ctx, d.Ask&policy.ChatFactors, passed); err != nil {
		return fail(refusalOf(err))
	}
	if _, err := fmt.Fprintln(out, policy.SuccessLine); err != nil {
		return policy.FailedRefusal()
	}
	return nil
}

// sessionCountdown shows the time left: on a terminal one line rewritten every second, without
// one a line every 10 seconds.
func sessionCountdown(out io.Writer, pty bool) func(context.Context, string, time.Duration) error {
	var last time.Duration = -1
	return func(_ context.Context, label string, left time.Duration) error {
		if pty {
			_, err := fmt.Fprint(out, "\r\x1b[K"+policy.ApprovalWaitLine(label, left))
			return err
		}
		if last >= 0 && last-left < 10*time.Second {
			return nil
		}
		last = left
		_, err := fmt.Fprintln(out, policy.ApprovalWaitLine(label, left))
		return err
	}
}

func refusalOf(err error) *policy.Refusal {
	var cr *errChatRefused
	if errors.As(err, &cr) {
		return cr.r
	}
	return policy.FailedRefusal()
}
