package policy

import (
	"fmt"
	"time"
)

// The words The Bastion prints around MFA, kept identical so that people and scripts (expect
// scripts wait for "word:" and "code:") that know The Bastion keep working.

// Prompts, asked with echo off.
const (
	PasswordPrompt = "Password: "
	TOTPPrompt     = "Verification code: "
)

// FactorBanner is the line printed before each factor's prompt (by The Bastion's PAM stack).
func FactorBanner(f Factor) string {
	name := "password"
	if f == TOTP {
		name = "OTP"
	}
	return "Your account has Multi-Factor Authentication enabled, an additional authentication factor is required (" + name + ")."
}

// Lines around a JIT MFA phase.
const (
	// SuccessLine is what pamtester prints after a successful JIT MFA phase; The Bastion's tests
	// look for it.
	SuccessLine = "pamtester: successfully authenticated"
	// FailureLine is what pamtester prints after each failed try.
	FailureLine = "pamtester: Authentication failure"
	// FailedMessage is the KO_MFA_FAILED message after the last failed try.
	FailedMessage = "Sorry, but Multi-Factor Authentication failed, couldn't complete the requested action"
	// BatchMessage refuses an MFA phase under --osh batch, where nothing can be prompted.
	BatchMessage = "MFA is required for this action, but we're running under batch mode, please use --proactive-mfa"
	// BatchChatMessage refuses a chat factor under --osh batch: it is asked for each action, so
	// --proactive-mfa cannot stand in for it.
	BatchChatMessage = "MFA is required for this action (a chat code or approval, asked for each action), but we're running under batch mode, where it cannot be asked"
	// TerminalMessage refuses to ask a password without a pty: the client's terminal would show
	// it as it is typed (only a pty lets the bastion turn echo off).
	TerminalMessage = "Sorry, your password must be typed on a terminal, where it is not shown: reconnect with `ssh -t`"

	SkipBypassLine    = "... skipping as your account is exempt from MFA."
	SkipProactiveLine = "... you already validated MFA proactively."
)

// Action is what a JIT MFA phase protects.
type Action string

const (
	ActionPlugin Action = "plugin" // an --osh command
	ActionHost   Action = "host"   // a connection to a server
	// ActionLogin is SSH authentication (immediate MFA); ActionProactive is --proactive-mfa and
	// the interactive `mfa`. Both go through Decide too, never printed in a phase line.
	ActionLogin     Action = "login"
	ActionProactive Action = "proactive"
)

// TerminalRefusal refuses a phase that would ask a password (ask) where no terminal can hide it
// (terminal false: a session without a pty), or returns nil. One-time codes (TOTP, chat code)
// may still be asked there: seen, they are already spent, so scripts keep working.
func TerminalRefusal(ask Factors, terminal bool) *Refusal {
	if terminal || !ask.Has(Password) {
		return nil
	}
	return &Refusal{Exit: ExitMFAFailed, Code: "KO_MFA_FAILED", Message: TerminalMessage}
}

// EnteringLine announces a JIT MFA phase. The plugin wording is the one of The Bastion's
// documentation ("to run this plugin"); the host one is "for this host".
func EnteringLine(a Action, account string) string {
	if a == ActionPlugin {
		return fmt.Sprintf("As this is required to run this plugin, entering MFA phase for %s.", account)
	}
	return fmt.Sprintf("As this is required for this %s, entering MFA phase for %s.", a, account)
}

// ProactiveEnteringLine announces --proactive-mfa.
func ProactiveEnteringLine(account string) string {
	return fmt.Sprintf("As proactive MFA has been requested, entering MFA phase for %s.", account)
}

// Interactive mode (the `mfa` and `nomfa` built-ins).
const (
	InteractiveEnteringLine = "As proactive MFA validation has been requested, entering MFA phase."
	ElevatedTag             = "[MFA-OK]"
	ForgottenLine           = "Your proactive MFA validation has been forgotten."
)

// Elevation is the interactive mode's proactive MFA state: while it lasts, commands that require
// MFA do not ask again (interactiveModeProactiveMFAexpiration, 900 s by default).
type Elevation struct {
	Until time.Time // zero: not elevated
}

// Elevate starts an elevation at now for d.
func Elevate(now time.Time, d time.Duration) Elevation { return Elevation{Until: now.Add(d)} }

// Active reports whether the elevation still holds at now.
func (e Elevation) Active(now time.Time) bool { return !e.Until.IsZero() && now.Before(e.Until) }

// PromptTag is "[MFA-OK]" while active, "" otherwise, to append to the interactive prompt.
func (e Elevation) PromptTag(now time.Time) string {
	if e.Active(now) {
		return ElevatedTag
	}
	return ""
}

// ElevatedLines is what the `mfa` built-in prints once the factors passed, e.g.
//
//	Proactive MFA enabled, any command requiring MFA from now on will not ask you again.
//	This mode will expire in 00:15:00 (Thu 2023-08-03 12:35:08 UTC)
//	To exit this mode manually, type 'nomfa'.
//	A chat code or an approval that an action requires is still asked each time.
func (e Elevation) ElevatedLines(now time.Time) []string {
	left := e.Until.Sub(now).Round(time.Second)
	if left < 0 {
		left = 0
	}
	h, m, s := int(left.Hours()), int(left.Minutes())%60, int(left.Seconds())%60
	return []string{
		"Proactive MFA enabled, any command requiring MFA from now on will not ask you again.",
		fmt.Sprintf("This mode will expire in %02d:%02d:%02d (%s)", h, m, s, e.Until.UTC().Format("Mon 2006-01-02 15:04:05 MST")),
		"To exit this mode manually, type 'nomfa'.",
		// Not The Bastion's: the first line promises more than proofs give (issue 9).
		"A chat code or an approval that an action requires is still asked each time.",
	}
}

// GroupInfoLine is groupInfo's line for a group with --mfa-required set.
const GroupInfoLine = "❗ MFA Required: when connecting to servers of this group, users will be asked for an additional authentication factor"
