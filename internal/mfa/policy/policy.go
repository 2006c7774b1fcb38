// Package policy decides which second factors The Bastion's MFA policies ask for, as pure
// functions over plain data: no I/O, no clock except what is passed in. It also holds the exact
// words The Bastion prints around MFA (messages.go), so that people and scripts that know The
// Bastion recognise them.
//
// The three decisions, in the order a connection meets them:
//
//   - ImmediateFactors: during SSH authentication, which factors keyboard-interactive asks after
//     (or instead of) the public key. Mirrors The Bastion's sshd_config Match blocks and PAM stack.
//   - SetupGate: before any command or connection, whether the account must first enrol a factor
//     (accountMFAPolicy, --mfa-*-required yes), refusing with exit codes 122/123/124.
//   - JIT: just before an action (a command with mfa_required, a host reached through a group
//     or a personal access that requires MFA, or an account flagged in JIT mode), which factors
//     to ask now, or why nothing is asked (bypass, proactive MFA), or why it is refused.
//
// Every decision fails closed: an unknown requirement value in stored data counts as "any".
package policy

import (
	"fmt"
	"strings"
)

// Factor is one additional factor; Factors is a set of them.
type Factor uint8

// Factors is a set of Factor.
type Factors = Factor

const (
	Password Factor = 1 << iota
	TOTP
	// Webhook is a one-time code posted to the team's chat (chat.go).
	Webhook
	// Approval is a person approving the login in the team's chat (chat.go).
	Approval
)

// AllFactors lists the factors in the order they are asked: password, then TOTP, as
// The Bastion's PAM stack does, then the chat factors (webhook code, approval).
var AllFactors = []Factor{Password, TOTP, Webhook, Approval}

// Has reports whether every factor of f is in s.
func (s Factors) Has(f Factor) bool { return f != 0 && s&f == f }

// List returns the factors of s in asking order.
func (s Factors) List() []Factor {
	var out []Factor
	for _, f := range AllFactors {
		if s.Has(f) {
			out = append(out, f)
		}
	}
	return out
}

// String returns "password", "totp", "password+totp", "webhook" … or "none".
func (s Factors) String() string {
	var names []string
	for _, f := range s.List() {
		switch f {
		case Password:
			names = append(names, "password")
		case TOTP:
			names = append(names, "totp")
		case Webhook:
			names = append(names, "webhook")
		case Approval:
			names = append(names, "approval")
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "+")
}

// MFAPolicy is bastion.conf's accountMFAPolicy.
type MFAPolicy string

const (
	PolicyDisabled         MFAPolicy = "disabled"
	PolicyEnabled          MFAPolicy = "enabled" // the default: opt-in per account
	PolicyAnyRequired      MFAPolicy = "any-required"
	PolicyTOTPRequired     MFAPolicy = "totp-required"
	PolicyPasswordRequired MFAPolicy = "password-required"
)

// ParseMFAPolicy validates an accountMFAPolicy value ("" means enabled).
func ParseMFAPolicy(s string) (MFAPolicy, error) {
	switch p := MFAPolicy(s); p {
	case "":
		return PolicyEnabled, nil
	case PolicyDisabled, PolicyEnabled, PolicyAnyRequired, PolicyTOTPRequired, PolicyPasswordRequired:
		return p, nil
	}
	return "", fmt.Errorf("accountMFAPolicy %q: use disabled, enabled, any-required, totp-required or password-required", s)
}

// Mode says where per-account MFA is asked: during SSH authentication (immediate, The Bastion's
// default sshd_config) or by the bastion just before each action (JIT).
type Mode int

const (
	ModeImmediate Mode = iota
	ModeJIT
)

// Global is the server-wide configuration.
type Global struct {
	Policy MFAPolicy // "" means enabled
	Mode   Mode
}

// Flag is a per-account yes|no|bypass setting (--mfa-password-required, --mfa-totp-required).
type Flag string

const (
	FlagNo     Flag = "no" // also the zero value ""
	FlagYes    Flag = "yes"
	FlagBypass Flag = "bypass" // never asked, even when a group or command requires it (robots)
)

// ParseFlag validates a yes|no|bypass value.
func ParseFlag(s string) (Flag, error) {
	switch f := Flag(s); f {
	case FlagNo, FlagYes, FlagBypass:
		return f, nil
	}
	return "", fmt.Errorf("%q: use yes, no or bypass", s)
}

// Requirement is an mfa_required value: of a command's config, a group
// (groupModify --mfa-required) or personal accesses (--personal-egress-mfa-required).
type Requirement string

const (
	RequireNone     Requirement = "none" // also the zero value ""
	RequirePassword Requirement = "password"
	RequireTOTP     Requirement = "totp"
	RequireAny      Requirement = "any"
	// RequireWebhook and RequireApproval ask a chat factor (chat.go); "any" never includes them.
	RequireWebhook  Requirement = "webhook"
	RequireApproval Requirement = "approval"
	// RequireAnyIfConfigured (built-in command configs only, e.g. selfMFASetupTOTP): "any" when
	// the account has a factor configured, "none" otherwise.
	RequireAnyIfConfigured Requirement = "any-if-configured"
)

// ParseRequirement validates a password|totp|any|webhook|approval|none value (what groupModify
// and accountModify accept).
func ParseRequirement(s string) (Requirement, error) {
	switch r := Requirement(s); r {
	case RequireNone, RequirePassword, RequireTOTP, RequireAny, RequireWebhook, RequireApproval:
		return r, nil
	}
	return "", fmt.Errorf("%q: use password, totp, any, webhook, approval or none", s)
}

// Required reports whether r asks for MFA at all.
func (r Requirement) Required() bool { return r != "" && r != RequireNone }

// AccessTag is what The Bastion appends to an access in the "will try the following accesses"
// list, e.g. " (MFA REQUIRED: ANY)", or "" when r requires nothing.
func (r Requirement) AccessTag() string {
	if !r.Required() {
		return ""
	}
	return " (MFA REQUIRED: " + strings.ToUpper(string(r)) + ")"
}

// Account is what the policy needs to know about an account.
type Account struct {
	Name               string
	PasswordRequired   Flag // --mfa-password-required
	TOTPRequired       Flag // --mfa-totp-required
	PAMAuthBypass      bool // --pam-auth-bypass: key only at ingress (robots)
	PubkeyAuthOptional bool // --pubkey-auth-optional: factors may replace the key
	// PersonalEgressMFA is --personal-egress-mfa-required, applied when a personal access is used.
	PersonalEgressMFA Requirement
	Configured        Factors // factors the account has set up (password, TOTP)
	// WebhookRequired and ApprovalRequired are --mfa-webhook-required and
	// --mfa-approval-required: yes asks the chat factor at every login (immediate mode) or
	// before every action (JIT mode); bypass exempts from groups' and commands' requirements.
	WebhookRequired  Flag
	ApprovalRequired Flag
}

// Command is what the policy needs to know about an --osh command's configuration.
type Command struct {
	Name        string
	MFARequired Requirement // mfa_required; "" means none
	// SetupNotRequired (mfa_setup_not_required) lets the command run before the account has
	// enrolled a factor: help, info, selfMFASetupPassword, selfMFASetupTOTP.
	SetupNotRequired bool
}
