// Package refusal is the one refusal type of a session's path and the one table of The Bastion's
// exit statuses (lib/perl/OVH/Bastion.pm's EXIT_*). The access decision (internal/access), the MFA
// policy (internal/mfa/policy), the relay (internal/connect) and the command language
// (internal/osh) all refuse with a *Refusal; the command language turns it into its JSON result
// in one place (osh.Refused). It depends on nothing, so that every layer may use it.
package refusal

import (
	"fmt"
	"strings"
)

// Exit statuses, as lib/perl/OVH/Bastion.pm defines them.
const (
	ExitOK                 = 0
	ExitPluginFailed       = 100
	ExitInactive           = 101
	ExitHostNotFound       = 102
	ExitUnknownCommand     = 104
	ExitRestrictedCommand  = 106
	ExitAccessDenied       = 107
	ExitGetoptsFailed      = 111
	ExitNoHost             = 112
	ExitAccountExpired     = 113
	ExitInteractiveOff     = 114
	ExitConflictingOptions = 115
	ExitMaintenance        = 118
	ExitInvalidAccount     = 120
	ExitTTLExpired         = 121
	ExitPasswordSetup      = 122
	ExitTOTPSetup          = 123
	ExitAnySetup           = 124
	ExitMFAFailed          = 125
	ExitInvalidUser        = 127
	ExitInvalidHost        = 128
	ExitFrozen             = 131
	ExitInvalidPort        = 134
)

// byCode is the exit status of each refusal code the dispatcher, the decision and the relay give
// before any command runs. A command's own failures exit with ExitPluginFailed.
var byCode = map[string]int{
	"KO_UNKNOWN_COMMAND":             ExitUnknownCommand,
	"KO_RESTRICTED_COMMAND":          ExitRestrictedCommand,
	"KO_PLUGIN_DISABLED":             ExitRestrictedCommand,
	"KO_ACCESS_DENIED":               ExitAccessDenied,
	"KO_GETOPTS_FAILED":              ExitGetoptsFailed,
	"KO_NO_HOST":                     ExitNoHost,
	"KO_HOST_NOT_FOUND":              ExitHostNotFound,
	"KO_INTERACTIVE_DISABLED":        ExitInteractiveOff,
	"KO_CONFLICTING_OPTIONS":         ExitConflictingOptions,
	"KO_MFA_PASSWORD_SETUP_REQUIRED": ExitPasswordSetup,
	"KO_MFA_TOTP_SETUP_REQUIRED":     ExitTOTPSetup,
	"KO_MFA_ANY_SETUP_REQUIRED":      ExitAnySetup,
	"KO_MFA_FAILED":                  ExitMFAFailed,
	"KO_INVALID_REMOTE_USER":         ExitInvalidUser,
	"KO_INVALID_REMOTE_HOST":         ExitInvalidHost,
	"KO_INVALID_PORT":                ExitInvalidPort,
	"KO_ACCOUNT_INVALID":             ExitInvalidAccount,
	"KO_ACCOUNT_FROZEN":              ExitFrozen,
	"KO_TTL_EXPIRED":                 ExitTTLExpired,
	"KO_ACCOUNT_EXPIRED":             ExitAccountExpired,
	"KO_INACTIVE_ACCOUNT":            ExitInactive,
	"KO_MAINTENANCE_MODE":            ExitMaintenance,
}

// ExitFor returns the exit status of a refusal code given before any command ran, and whether
// the code is in the table.
func ExitFor(code string) (int, bool) {
	e, ok := byCode[code]
	return e, ok
}

// Refusal is a decision that says no, with The Bastion's code, exit status and sentence. It
// implements error; use errors.As to read it.
type Refusal struct {
	Exit    int    // the process exit status The Bastion gives
	Code    string // "KO_ACCESS_DENIED", "KO_MFA_FAILED", … (the JSON error_code)
	Message string // the sentence shown to the user (after "⛔ ") and put in the audit log
}

func (r *Refusal) Error() string { return r.Message }

// New returns a refusal whose exit status is the table's for code (ExitPluginFailed when the
// code is not in it).
func New(code, format string, a ...any) *Refusal {
	return &Refusal{Exit: ExitOf(code), Code: code, Message: fmt.Sprintf(format, a...)}
}

// ExitOf is the exit status of code: the table's, ExitMFAFailed for any KO_MFA_FAILED*, else
// ExitPluginFailed.
func ExitOf(code string) int {
	if e, ok := byCode[code]; ok {
		return e
	}
	if strings.HasPrefix(code, "KO_MFA_FAILED") {
		return ExitMFAFailed
	}
	return ExitPluginFailed
}

// AuditUnavailable refuses an action because the audit log cannot record it (a full disk): what
// cannot be audited does not happen.
func AuditUnavailable() *Refusal {
	return New("KO_AUDIT_UNAVAILABLE", "The audit log of this bastion cannot be written right now, so this action is refused; try again later or tell the administrators")
}
