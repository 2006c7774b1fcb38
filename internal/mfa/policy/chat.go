package policy

import (
	"fmt"
	"time"
)

// Chat factors: a one-time code posted to the team's chat (Webhook) and a person approving the
// login there (Approval). They differ from password and TOTP in three ways, which the rules
// below encode:
//
//   - Nothing is enrolled: the bastion can ask them whenever a channel is configured, so a
//     requirement never refuses with 122–124; a channel that is missing or down is a delivery
//     failure (OnUndelivered).
//   - "any" never includes them: "any" keeps The Bastion's meaning (password or TOTP).
//   - They are asked only when required (an account's yes flag, a group's or a command's
//     requirement), after the password and TOTP, and a requirement for a chat factor alone does
//     not ask the configured password or TOTP.

// ChatFactors is the set of chat factors.
const ChatFactors = Webhook | Approval

// chatRequired is the set of chat factors the account's own flags require.
func (a Account) chatRequired() Factors {
	var f Factors
	if a.WebhookRequired == FlagYes {
		f |= Webhook
	}
	if a.ApprovalRequired == FlagYes {
		f |= Approval
	}
	return f
}

// chatBypassed is the set of chat factors the account is exempt from (robots).
func (a Account) chatBypassed() Factors {
	var f Factors
	if a.WebhookRequired == FlagBypass {
		f |= Webhook
	}
	if a.ApprovalRequired == FlagBypass {
		f |= Approval
	}
	return f
}

// Fallback is the operator's choice ([notify] fallback) of what replaces a chat factor that
// could not be delivered (channel down, refusing, too slow, or none configured).
type Fallback string

const (
	FallbackNone     Fallback = "none" // the default: refuse (fail closed)
	FallbackPassword Fallback = "password"
	FallbackTOTP     Fallback = "totp"
	FallbackAny      Fallback = "any" // every configured factor not already asked
)

// ParseFallback validates a fallback value; "" means none.
func ParseFallback(s string) (Fallback, error) {
	switch f := Fallback(s); f {
	case "":
		return FallbackNone, nil
	case FallbackNone, FallbackPassword, FallbackTOTP, FallbackAny:
		return f, nil
	}
	return "", fmt.Errorf("%q: use none, password, totp or any", s)
}

// OnUndelivered decides what to do when the chat factor f could not be delivered: the factors
// to ask instead, or a refusal. A fallback factor must be configured and must not have passed
// already in this phase (passed): falling back to a factor already checked would turn two
// factors into one, so that refuses too.
func OnUndelivered(fb Fallback, f Factor, a Account, passed Factors) (Factors, *Refusal) {
	var want Factors
	switch fb {
	case FallbackPassword:
		want = Password
	case FallbackTOTP:
		want = TOTP
	case FallbackAny:
		want = Password | TOTP
	default:
		return 0, UndeliveredRefusal(f, false)
	}
	ask := want & a.Configured &^ passed
	if ask == 0 {
		return 0, UndeliveredRefusal(f, true)
	}
	return ask, nil
}

// UndeliveredRefusal is KO_MFA_FAILED when a chat factor could not be delivered; fellBack says a
// fallback was configured but the account has no factor left to fall back to.
func UndeliveredRefusal(f Factor, fellBack bool) *Refusal {
	msg := fmt.Sprintf("Sorry, the bastion could not deliver your %s to the team chat, so access is refused; try again later or report it to your sysadmin", chatNoun(f))
	if fellBack {
		msg += " (no other factor of yours can replace it)"
	}
	return &Refusal{Exit: ExitMFAFailed, Code: "KO_MFA_FAILED", Message: msg}
}

func chatNoun(f Factor) string {
	if f == Approval {
		return "approval request"
	}
	return "login code"
}

// The words of the chat factors.

// CodeBanner is shown before the code prompt.
func CodeBanner(label string) string {
	return "Your account requires a login code: it has been posted to your team's chat for session " + label + "."
}

// CodePrompt is the prompt of the webhook code (the chat message names the same session).
func CodePrompt(label string) string { return "Code for session " + label + ": " }

// ApprovalBanner is shown when an approval request has been posted.
func ApprovalBanner(label string, ttl time.Duration) string {
	return fmt.Sprintf("Your access needs the approval of a person: a request for session %s has been posted to your team's chat (%s to answer).",
		label, ttl.Round(time.Second))
}

// ApprovalWaitLine is the countdown shown while waiting.
func ApprovalWaitLine(label string, left time.Duration) string {
	return fmt.Sprintf("Waiting for approval of session %s: %d s left", label, int(left.Round(time.Second)/time.Second))
}

// ApprovedLine is shown once approved, naming who approved.
func ApprovedLine(label, approver string) string {
	if approver == "" {
		return "Session " + label + " approved."
	}
	return "Session " + label + " approved by " + approver + "."
}

// ApprovalRefusal is KO_MFA_FAILED for an approval that did not come: reason is "denied by bob",
// "expired" …
func ApprovalRefusal(label, reason string) *Refusal {
	return &Refusal{Exit: ExitMFAFailed, Code: "KO_MFA_FAILED", Message: fmt.Sprintf("Sorry, session %s was not approved (%s), access refused", label, reason)}
}

// CodeRefusal is KO_MFA_FAILED for a wrong or expired code; reason says which.
func CodeRefusal(label, reason string) *Refusal {
	return &Refusal{Exit: ExitMFAFailed, Code: "KO_MFA_FAILED", Message: fmt.Sprintf("Sorry, the code for session %s was refused (%s); log in again to get a new one", label, reason)}
}
