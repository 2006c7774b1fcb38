package policy

import (
	"fmt"

	"gatehouse/internal/refusal"
)

// Exit codes of MFA refusals (The Bastion's OVH::Bastion::EXIT_MFA_*; the one table is
// internal/refusal's).
const (
	ExitMFAPasswordSetupRequired = refusal.ExitPasswordSetup
	ExitMFATOTPSetupRequired     = refusal.ExitTOTPSetup
	ExitMFAAnySetupRequired      = refusal.ExitAnySetup
	ExitMFAFailed                = refusal.ExitMFAFailed
)

// Refusal is a policy decision to refuse, with what The Bastion would print and return: the one
// refusal type of a session's path (internal/refusal).
type Refusal = refusal.Refusal

func passwordSetupRefusal(msg string) *Refusal {
	return &Refusal{Exit: ExitMFAPasswordSetupRequired, Code: "KO_MFA_PASSWORD_SETUP_REQUIRED", Message: msg}
}
func totpSetupRefusal(msg string) *Refusal {
	return &Refusal{Exit: ExitMFATOTPSetupRequired, Code: "KO_MFA_TOTP_SETUP_REQUIRED", Message: msg}
}
func anySetupRefusal(msg string) *Refusal {
	return &Refusal{Exit: ExitMFAAnySetupRequired, Code: "KO_MFA_ANY_SETUP_REQUIRED", Message: msg}
}

// FailedRefusal is KO_MFA_FAILED after the last failed try (or any error during the MFA phase).
func FailedRefusal() *Refusal {
	return &Refusal{Exit: ExitMFAFailed, Code: "KO_MFA_FAILED", Message: FailedMessage}
}

const (
	setupPasswordHint = "please use the `--osh selfMFASetupPassword' option to do so"
	setupTOTPHint     = "please use the `--osh selfMFASetupTOTP' option to do so"
	setupAnyHint      = "please use either the `--osh selfMFASetupPassword' or the `--osh selfMFASetupTOTP' option, at your discretion, to do so"
)

// KeyRule says whether the public key is required at ingress.
type KeyRule int

const (
	KeyRequired KeyRule = iota
	// KeyOptional: the account may authenticate with publickey then Factors, or with Factors
	// alone (sshd: "publickey,keyboard-interactive:pam keyboard-interactive:pam").
	KeyOptional
)

// Immediate is what SSH authentication asks of an account.
type Immediate struct {
	PublicKey KeyRule
	Factors   Factors // asked by keyboard-interactive, password first, then TOTP; none: key only
}

// ImmediateFactors mirrors The Bastion's sshd_config Match blocks, first match wins:
//
//  1. --pam-auth-bypass: publickey only.
//  2. no factor configured: publickey only (the key is then always required, even with
//     --pubkey-auth-optional, since there would be nothing else to check).
//  3. --pubkey-auth-optional: publickey then factors, or factors alone. This block stays active
//     in JIT mode, as in The Bastion's template.
//  4. JIT mode: publickey only; the bastion asks factors later (JIT).
//  5. otherwise: publickey, then every configured factor.
//
// Every configured factor is asked, whatever the --mfa-*-required flags say: the flags only make
// enrolment mandatory (SetupGate); PAM asks what is configured. accountMFAPolicy "disabled" does
// not remove factors already configured.
//
// Chat factors (--mfa-webhook-required yes, --mfa-approval-required yes) are asked after the
// configured ones, under the same rules, but never replace the key: with --pubkey-auth-optional
// the key may only be left out when a password or TOTP is configured.
func ImmediateFactors(g Global, a Account) Immediate {
	chat := a.chatRequired()
	switch {
	case a.PAMAuthBypass, a.Configured == 0 && chat == 0:
		return Immediate{PublicKey: KeyRequired}
	case a.PubkeyAuthOptional && a.Configured != 0:
		return Immediate{PublicKey: KeyOptional, Factors: a.Configured | chat}
	case g.Mode == ModeJIT:
		return Immediate{PublicKey: KeyRequired}
	}
	return Immediate{PublicKey: KeyRequired, Factors: a.Configured | chat}
}

// SetupGate refuses an account that must enrol a factor before doing anything, or returns nil.
// Pass the command being run, or the zero Command for a connection to a host.
//
//   - accountMFAPolicy disabled, or a command with mfa_setup_not_required: never refused.
//   - password: required by policy password-required (unless --mfa-password-required bypass or
//     --pam-auth-bypass) or by --mfa-password-required yes; refused with 122 when not configured.
//   - TOTP: likewise with totp-required and --mfa-totp-required; 123.
//   - any-required: refused with 124 when neither factor is configured and neither is bypassed
//     (nor --pam-auth-bypass).
//
// --pam-auth-bypass exempts from the global policy as The Bastion's documentation advises for
// robots; it does not exempt from a per-account "yes".
func SetupGate(g Global, a Account, c Command) *Refusal {
	if g.Policy == PolicyDisabled || c.SetupNotRequired {
		return nil
	}
	policy := g.Policy
	if a.PAMAuthBypass {
		policy = PolicyEnabled
	}
	prefix := fmt.Sprintf("Sorry %s, but you need to setup the Multi-Factor Authentication before using this bastion, ", a.Name)
	if (policy == PolicyPasswordRequired && a.PasswordRequired != FlagBypass) || a.PasswordRequired == FlagYes {
		if !a.Configured.Has(Password) {
			return passwordSetupRefusal(prefix + setupPasswordHint)
		}
	}
	if (policy == PolicyTOTPRequired && a.TOTPRequired != FlagBypass) || a.TOTPRequired == FlagYes {
		if !a.Configured.Has(TOTP) {
			return totpSetupRefusal(prefix + setupTOTPHint)
		}
	}
	if policy == PolicyAnyRequired && a.Configured == 0 &&
		a.PasswordRequired != FlagBypass && a.TOTPRequired != FlagBypass {
		return anySetupRefusal(prefix + setupAnyHint)
	}
	return nil
}
