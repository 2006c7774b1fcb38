package policy

import (
	"fmt"
	"time"
)

// Need is a combined MFA requirement: every factor in All must be validated, and when Any is set
// at least one factor must be.
type Need struct {
	All Factors
	Any bool
}

// Required reports whether n asks for anything.
func (n Need) Required() bool { return n.All != 0 || n.Any }

// add folds one requirement into n. Unknown values count as "any": stored data we do not
// understand must not silently turn MFA off.
func (n Need) add(r Requirement) Need {
	switch r {
	case "", RequireNone:
	case RequirePassword:
		n.All |= Password
	case RequireTOTP:
		n.All |= TOTP
	case RequireWebhook:
		n.All |= Webhook
	case RequireApproval:
		n.All |= Approval
	default:
		n.Any = true
	}
	return n
}

// String is "none", "any", "password", "totp" or "password+totp".
func (n Need) String() string {
	if n.All != 0 {
		return n.All.String()
	}
	if n.Any {
		return "any"
	}
	return "none"
}

// Proof is a factor validated before the action being decided: by --proactive-mfa or the
// interactive `mfa` built-in. At is when it passed.
type Proof struct {
	Factor Factor
	At     time.Time
}

// JITInput is everything a decision depends on: who (Account), what (Action, and the Command,
// Groups and Personal access that apply to it), how the bastion runs (Global, passed apart),
// and what was already proven (Proven, judged at Now against Validity).
type JITInput struct {
	Action  Action
	Account Account
	// Command is the --osh command being run (ActionPlugin), or the zero Command for a host.
	Command Command
	// Groups are the mfa_required values of every group access that matched the target (host
	// connections, and commands such as scp/sftp that reach a host). One requiring is enough.
	Groups []Requirement
	// Personal is set when a personal access matched: Account.PersonalEgressMFA then applies.
	Personal bool
	// Proven are the factors validated before this action (proactive MFA), with when. A proof
	// stands only for its own factor, and only while Now is within Validity of it; an approval
	// is never proven in advance, so an Approval proof is ignored. Factors answered during SSH
	// authentication are not passed here: The Bastion asks again for JIT.
	Proven   []Proof
	Now      time.Time
	Validity time.Duration
	// Batch is set under --osh batch, where nothing can be prompted.
	Batch bool
}

// Skip says why a required MFA phase asks nothing.
type Skip string

const (
	SkipNone      Skip = ""
	SkipBypass    Skip = "bypass"    // print SkipBypassLine
	SkipProactive Skip = "proactive" // print SkipProactiveLine
)

// JITDecision is the outcome of Decide.
type JITDecision struct {
	// Need is the combined requirement; when Required, print EnteringLine first (also before
	// a refusal, as The Bastion does).
	Need Need
	// Ask are the factors to prompt now, password first: every configured password/TOTP factor
	// not already proven when a password, TOTP or "any" requirement is not met by a proof (as
	// The Bastion's PAM stack asks them), then each chat factor required and not met. Empty when
	// nothing is required or Skip is set.
	Ask Factors
	// Satisfied are the required factors that earlier proofs met (so not asked).
	Satisfied Factors
	Skip      Skip
}

// JIT is Decide for an action (ActionPlugin, ActionHost); kept for its callers' reading.
func JIT(g Global, in JITInput) (JITDecision, *Refusal) { return Decide(g, in) }

// valid is the set of factors proven within their validity at in.Now. An approval is never
// valid in advance: it is asked for this very action every time.
func (in JITInput) valid() Factors {
	var v Factors
	for _, p := range in.Proven {
		if p.Factor == Approval || p.At.IsZero() || p.At.After(in.Now) || in.Now.Sub(p.At) >= in.Validity {
			continue
		}
		v |= p.Factor & (Password | TOTP | Webhook)
	}
	return v
}

// Decide is THE decision of which factors to ask, for every place that asks one:
//
//   - ActionLogin: SSH authentication (ImmediateFactors' factors: what PAM asks).
//   - ActionProactive: --proactive-mfa and the interactive `mfa`: every configured password/TOTP
//     factor; an account without any is refused (124), or refused when it bypasses them
//     (nothing would be validated, and an elevation must mean something was checked).
//   - ActionPlugin, ActionHost: just before a command runs or a connection is made.
//
// For an action, what is required is the UNION of: the command's mfa_required
// (any-if-configured resolving to any or none), every matching group's, the personal access's,
// and, in JIT mode, the account's own --mfa-*-required yes flags (except for commands with
// mfa_setup_not_required, so that enrolment stays possible; in immediate mode those flags were
// asked at login). A required factor that is not configured refuses (122/123/124) unless the
// account has `bypass` for it; `bypass` of a chat factor exempts from it.
//
// Each required factor is then met only by itself: a password or TOTP proven within Validity
// (proactive MFA) meets that factor, "any" is met by a proven configured password or TOTP, a
// webhook code only by a webhook code, and an approval never: it is always asked. Whatever is
// not met is asked; under batch mode, where nothing can be prompted, that refuses (125).
func Decide(g Global, in JITInput) (JITDecision, *Refusal) {
	a := in.Account
	switch in.Action {
	case ActionLogin:
		f := ImmediateFactors(g, a).Factors
		return JITDecision{Need: Need{All: f}, Ask: f}, nil
	case ActionProactive:
		ask := a.Configured & (Password | TOTP)
		d := JITDecision{Need: Need{Any: true}, Ask: ask}
		if ask != 0 {
			return d, nil
		}
		if a.PasswordRequired != FlagBypass && a.TOTPRequired != FlagBypass {
			return JITDecision{Need: d.Need}, anySetupRefusal(jitSetupMessage(a.Name, ActionPlugin, setupAnyHint))
		}
		return JITDecision{Need: d.Need}, FailedRefusal()
	}

	need, r := union(g, in)
	d := JITDecision{Need: need}
	if r != nil || !need.Required() {
		return d, r
	}

	// A required factor that is not configured refuses, unless the account bypasses it.
	// Order as The Bastion: password, TOTP, then any.
	remaining := need
	if need.All.Has(Password) && !a.Configured.Has(Password) {
		if a.PasswordRequired != FlagBypass {
			return d, passwordSetupRefusal(jitSetupMessage(a.Name, in.Action, setupPasswordHint))
		}
		remaining.All &^= Password
	}
	if need.All.Has(TOTP) && !a.Configured.Has(TOTP) {
		if a.TOTPRequired != FlagBypass {
			return d, totpSetupRefusal(jitSetupMessage(a.Name, in.Action, setupTOTPHint))
		}
		remaining.All &^= TOTP
	}
	if need.Any && a.Configured&(Password|TOTP) == 0 {
		if a.PasswordRequired != FlagBypass && a.TOTPRequired != FlagBypass {
			return d, anySetupRefusal(jitSetupMessage(a.Name, in.Action, setupAnyHint))
		}
		remaining.Any = false
	}
	remaining.All &^= a.chatBypassed()
	if !remaining.Required() {
		d.Skip = SkipBypass
		return d, nil
	}

	valid := in.valid()
	configured := a.Configured & (Password | TOTP)
	// Password/TOTP: a named factor not proven, or "any" with no configured factor proven,
	// asks every configured factor not proven (what PAM asks).
	unmet := remaining.All&(Password|TOTP)&^valid != 0 || (remaining.Any && configured&valid == 0)
	if unmet {
		d.Ask = configured &^ valid
	}
	d.Ask |= remaining.All & Webhook &^ valid
	d.Ask |= remaining.All & Approval // never met in advance
	d.Satisfied = remaining.All & valid
	if remaining.Any {
		d.Satisfied |= configured & valid
	}

	switch {
	case d.Ask == 0:
		d.Skip = SkipProactive
	case in.Batch:
		msg := BatchMessage
		if d.Ask&ChatFactors != 0 {
			msg = BatchChatMessage
		}
		d.Ask = 0
		return d, &Refusal{Exit: ExitMFAFailed, Code: "KO_MFA_FAILED", Message: msg}
	}
	return d, nil
}

// union is what an action requires: the command's, every group's, the personal access's and,
// in JIT mode, the account's own. An invalid command requirement refuses.
func union(g Global, in JITInput) (Need, *Refusal) {
	a := in.Account
	var need Need
	if in.Action == ActionPlugin {
		r := in.Command.MFARequired
		if r == RequireAnyIfConfigured {
			r = RequireNone
			if a.Configured != 0 {
				r = RequireAny
			}
		}
		if _, err := ParseRequirement(string(r)); err != nil && r != "" {
			return need, &Refusal{Exit: ExitMFAFailed, Code: "KO_MFA_PLUGIN_CONFIGURATION_FAILED",
				Message: "MFA configuration is incorrect for this plugin, report to your sysadmin!"}
		}
		need = need.add(r)
	}
	for _, r := range in.Groups {
		need = need.add(r)
	}
	if in.Personal {
		need = need.add(a.PersonalEgressMFA)
	}
	if g.Mode == ModeJIT && !in.Command.SetupNotRequired {
		if a.PasswordRequired == FlagYes {
			need.All |= Password
		}
		if a.TOTPRequired == FlagYes {
			need.All |= TOTP
		}
		need.All |= a.chatRequired()
	}
	return need, nil
}

func jitSetupMessage(account string, a Action, hint string) string {
	return fmt.Sprintf("Sorry %s, but you need to setup the Multi-Factor Authentication for this %s,\n%s", account, a, hint)
}
