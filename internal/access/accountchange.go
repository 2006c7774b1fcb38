package access

import "fmt"

// ChangeKind is what a command does to an account. Every command that changes an account asks
// MayChangeAccount with one of these before it touches the store.
type ChangeKind string

const (
	ChangeModify         ChangeKind = "modify"          // accountModify, settings other than the factors
	ChangeModifyMFA      ChangeKind = "modify-mfa"      // accountModify of a factor setting (mfa-*, pam-auth-bypass, slack-user-id …)
	ChangeFreeze         ChangeKind = "freeze"          // accountFreeze
	ChangeUnfreeze       ChangeKind = "unfreeze"        // accountUnfreeze
	ChangeDelete         ChangeKind = "delete"          // accountDelete
	ChangeUnexpire       ChangeKind = "unexpire"        // accountUnexpire
	ChangeUnlock         ChangeKind = "unlock"          // accountUnlock (the MFA lockout)
	ChangeMFAReset       ChangeKind = "mfa-reset"       // accountMFAResetPassword, accountMFAResetTOTP
	ChangeMFAImport      ChangeKind = "mfa-import"      // accountMFAImportTOTP
	ChangePersonalAccess ChangeKind = "personal-access" // accountAddPersonalAccess, accountDelPersonalAccess
	ChangeGrant          ChangeKind = "grant"           // accountGrantCommand (Command says what)
	ChangeRevoke         ChangeKind = "revoke"          // accountRevokeCommand (Command says what)
)

// ChangeKinds lists every kind, for tables and for callers that check their coverage.
var ChangeKinds = []ChangeKind{ChangeModify, ChangeModifyMFA, ChangeFreeze, ChangeUnfreeze, ChangeDelete, ChangeUnexpire,
	ChangeUnlock, ChangeMFAReset, ChangeMFAImport, ChangePersonalAccess, ChangeGrant, ChangeRevoke}

// AccountChange is one change to one account.
type AccountChange struct {
	Kind    ChangeKind
	Command string // for ChangeGrant and ChangeRevoke: the command or role granted or revoked
}

// Principal is an account as the change rules see it: its immutable identity and its roles as the
// store holds them now.
type Principal struct {
	ID         string // the account's immutable id ("" for stores that predate it: Name decides then)
	Name       string
	Admin      bool
	SuperOwner bool
}

// same reports whether a and b are one account. The immutable id decides when both have one, so
// an account recreated under a deleted account's name is never taken for it.
func (a Principal) same(b Principal) bool {
	if a.ID != "" && b.ID != "" {
		return a.ID == b.ID
	}
	return a.Name != "" && a.Name == b.Name
}

// AdminOnlyGrants are the commands and roles only admins may grant or revoke: they hand out
// everything else.
var AdminOnlyGrants = map[string]bool{"admin": true, "superowner": true, "accountGrantCommand": true, "accountRevokeCommand": true}

// Codes of the refusals, The Bastion's where it has one.
const (
	CodeSecurityViolation = "ERR_SECURITY_VIOLATION"
	CodeCannotDeleteSelf  = "ERR_CANNOT_DELETE_SELF"
	CodeCannotFreezeSelf  = "ERR_CANNOT_FREEZE_SELF"
)

// MayChangeAccount is the one rule of who may change whom; nil means the change may go ahead.
// The caller has already checked that actor may run the command at all (osh.Authorize): this
// decides whether it may run it on target. It fails closed: an unknown kind is refused.
//
//   - Only an admin changes an admin, whatever the change.
//   - Only an admin grants or revokes admin, superowner, accountGrantCommand, accountRevokeCommand.
//   - Nobody deletes or freezes their own account, or revokes their own admin role (so the last
//     admin can never be removed: every change to an admin is made by another admin).
//   - Nobody lifts their own freeze, expiry or MFA lockout, nor resets or imports their own
//     factors through the account* commands: the self* commands ask a factor first, and a
//     lockout lifted by the locked account would let it guess on.
//   - A non-admin does not change their own factor settings (mfa-*-required, pam-auth-bypass,
//     pubkey-auth-optional, slack-user-id …), nor give themselves a personal access through
//     account*PersonalAccess (selfAddPersonalAccess is granted on its own).
func MayChangeAccount(actor, target Principal, ch AccountChange) error {
	known := false
	for _, k := range ChangeKinds {
		known = known || k == ch.Kind
	}
	if !known {
		return refuse(CodeSecurityViolation, "Unknown kind of change %q to account %s: refused", ch.Kind, target.Name)
	}
	if (ch.Kind == ChangeGrant || ch.Kind == ChangeRevoke) && AdminOnlyGrants[ch.Command] && !actor.Admin {
		return refuse(CodeSecurityViolation, "Only an admin may grant or revoke %s", ch.Command)
	}
	if target.Admin && !actor.Admin {
		return refuse(CodeSecurityViolation, "Account %s is an admin: only an admin may change it", target.Name)
	}
	if !actor.same(target) {
		return nil
	}
	switch ch.Kind {
	case ChangeDelete:
		return refuse(CodeCannotDeleteSelf, "You cannot delete your own account")
	case ChangeFreeze:
		return refuse(CodeCannotFreezeSelf, "You cannot freeze your own account")
	case ChangeRevoke:
		if ch.Command == "admin" {
			return refuse(CodeSecurityViolation, "You cannot revoke your own admin role: ask another admin")
		}
	case ChangeUnfreeze, ChangeUnexpire:
		return refuse(CodeSecurityViolation, "You cannot %s your own account: ask another account holding the command", ch.Kind)
	case ChangeUnlock, ChangeMFAReset, ChangeMFAImport:
		return refuse(CodeSecurityViolation, "You cannot %s your own account with this command: use the self commands (selfMFAReset…), which ask a factor first, or ask another account", ch.Kind)
	case ChangePersonalAccess:
		return refuse(CodeSecurityViolation, "Use selfAddPersonalAccess or selfDelPersonalAccess for your own personal accesses")
	case ChangeModifyMFA:
		if !actor.Admin {
			return refuse(CodeSecurityViolation, "You cannot change your own second-factor settings: ask an admin")
		}
	}
	return nil
}

func refuse(code, format string, args ...any) *Refusal {
	return &Refusal{Code: code, Exit: ExitPluginError, Message: fmt.Sprintf(format, args...)}
}
