package policy

import "fmt"

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

// JITInput is everything a JIT decision depends on.
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
	// Proactive is set when MFA was validated proactively in this connection (--proactive-mfa)
	// or the interactive [MFA-OK] elevation is active. Factors answered during SSH authentication
	// do not count: The Bastion asks again for JIT.
	Proactive bool
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

// JITDecision is the outcome of JIT.
type JITDecision struct {
	// Need is the combined requirement; when Required, print EnteringLine first (also before
	// a refusal, as The Bastion does).
	Need Need
	// Ask are the factors to prompt now, password first: every configured factor, as The
	// Bastion's PAM stack asks them. Empty when nothing is required or Skip is set.
	Ask  Factors
	Skip Skip
}

// JIT decides the MFA phase before an action. It returns a Refusal when the requirement cannot
// be met: a factor required but not configured (122/123/124, unless bypassed), a command whose
// mfa_required is invalid, or batch mode (125).
//
// What is required is the union of: the command's mfa_required (any-if-configured resolving to
// any or none), every matching group's, the personal access's, and, in JIT mode, the account's
// own --mfa-*-required yes (except for commands with mfa_setup_not_required, so that enrolment
// stays possible).
func JIT(g Global, in JITInput) (JITDecision, *Refusal) {
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
			return JITDecision{}, &Refusal{ExitMFAFailed, "KO_MFA_PLUGIN_CONFIGURATION_FAILED",
				"MFA configuration is incorrect for this plugin, report to your sysadmin!"}
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
	d := JITDecision{Need: need}
	if !need.Required() {
		return d, nil
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
	if need.Any && a.Configured == 0 {
		if a.PasswordRequired != FlagBypass && a.TOTPRequired != FlagBypass {
			return d, anySetupRefusal(jitSetupMessage(a.Name, in.Action, setupAnyHint))
		}
		remaining.Any = false
	}
	remaining.All &^= a.chatBypassed()
	switch {
	case !remaining.Required():
		d.Skip = SkipBypass
	case in.Proactive:
		d.Skip = SkipProactive
	case in.Batch:
		return d, &Refusal{ExitMFAFailed, "KO_MFA_FAILED", BatchMessage}
	default:
		d.Ask = askFor(remaining, a)
	}
	return d, nil
}

func jitSetupMessage(account string, a Action, hint string) string {
	return fmt.Sprintf("Sorry %s, but you need to setup the Multi-Factor Authentication for this %s,\n%s", account, a, hint)
}
