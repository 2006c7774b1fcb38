// Package pamverify is the bastion's side of pam_gatehouse.so: an HTTPS endpoint where a target,
// authenticated by its own token, asks whether the person behind a sudo or a login passed a
// second factor, naming them by the ticket gatehouse handed the target when it opened the session.
//
// Lifecycle of one request: the token names the server (constant-time compare of its SHA-256
// with the configured ones); the ticket is verified (signature, expiry) and must be for that
// server; the account it names must still exist with the same id and be neither frozen, expired
// nor inactive; only then is the factor checked (TOTP through the bastion's own verifier, so a
// code accepted once, at the bastion or on any server, is refused everywhere after). Decide is
// the pure decision over these facts; every decision is an audit event.
//
// Invariants: fail closed — any error (store, audit, decoding, unknown server) is a refusal;
// nothing here allows by default; codes and tokens are never logged nor audited.
package pamverify

import (
	"errors"
	"strings"

	"gatehouse/internal/ticket"
)

// FactorResult is the outcome of checking the person's answer.
type FactorResult int

const (
	FactorNotChecked FactorResult = iota // the identity checks come first
	FactorOK
	FactorWrong
	FactorReplayed
	FactorLimited // rate-limited or locked
	FactorMissing // the account has no such factor configured
	FactorError   // store or configuration error
	// FactorUndelivered: the chat code or the approval request could not be posted (fail closed).
	FactorUndelivered
	FactorDenied    // a colleague denied the approval
	FactorExpired   // the approval was not given in time
	FactorNoRequest // no pending approval of this server, person, user and command
	FactorUnclear   // the command could not be read to pick the factor
)

// Facts are what Decide needs, gathered by the handler.
type Facts struct {
	ServerKnown bool // the token matched a configured server
	// Ticket: given or not; its verification error; whether it names this server.
	TicketGiven     bool
	TicketErr       error
	TicketForServer bool
	AllowNoTicket   bool // the server may name an account without a ticket
	AccountNamed    bool // without a ticket, the module sent an account name
	// The account the ticket (or the name) designates, as the store has it now.
	AccountFound     bool
	AccountIDMatches bool // the ticket's account id is the stored one (no namesake)
	Frozen           bool
	Expired          bool // TTL or inactivity
	StoreErr         bool
	// FactorName is the factor asked ("TOTP" when empty, "chat code", "approval").
	FactorName string
	Factor     FactorResult
	// DecidedBy is the colleague who approved or denied (approval only).
	DecidedBy string
}

// Decision is Decide's answer: allow, ask the factor (identity passed), or refuse with a reason.
type Decision struct {
	Allow     bool
	NeedCheck bool   // identity passed: check the factor, then decide again
	Reason    string // for the audit and the person (never a secret)
}

// Decide is the whole policy, pure. It is called once with Factor FactorNotChecked (identity
// only), and again with the factor's result when that asked for a check.
func Decide(f Facts) Decision {
	refuse := func(r string) Decision { return Decision{Reason: r} }
	switch {
	case !f.ServerKnown:
		return refuse("unknown server token")
	case f.TicketGiven && errors.Is(f.TicketErr, ticket.ErrExpired):
		return refuse("ticket expired")
	case f.TicketGiven && errors.Is(f.TicketErr, ticket.ErrSignature):
		return refuse("ticket forged (bad signature)")
	case f.TicketGiven && f.TicketErr != nil:
		return refuse("ticket invalid")
	case f.TicketGiven && !f.TicketForServer:
		return refuse("ticket issued for another server")
	case !f.TicketGiven && !f.AllowNoTicket:
		return refuse("no ticket (this server requires one)")
	case !f.TicketGiven && !f.AccountNamed:
		return refuse("no ticket and no account named")
	case f.StoreErr:
		return refuse("internal error reading the account")
	case !f.AccountFound:
		return refuse("unknown account")
	case f.TicketGiven && !f.AccountIDMatches:
		return refuse("the ticket's account was deleted")
	case f.Frozen:
		return refuse("account frozen")
	case f.Expired:
		return refuse("account expired")
	}
	name := f.FactorName
	if name == "" {
		name = "TOTP"
	}
	code := name
	if !strings.HasSuffix(code, "code") {
		code += " code"
	}
	if name == "approval" {
		code = "approval"
	}
	switch f.Factor {
	case FactorNotChecked:
		return Decision{NeedCheck: true}
	case FactorOK:
		if name == "approval" {
			if f.DecidedBy == "" { // an approval that names nobody is no approval
				return refuse("approval without an approver")
			}
			return Decision{Allow: true, Reason: "approved by " + f.DecidedBy}
		}
		return Decision{Allow: true, Reason: name + " ok"}
	case FactorWrong:
		return refuse("wrong " + code)
	case FactorReplayed:
		return refuse(code + " already used")
	case FactorLimited:
		return refuse("too many tries (rate-limited or locked)")
	case FactorMissing:
		return refuse("no " + name + " configured for this account")
	case FactorUndelivered:
		return refuse(name + " not delivered")
	case FactorDenied:
		return refuse("denied by " + orUnknown(f.DecidedBy))
	case FactorExpired:
		return refuse(name + " expired (no answer in time)")
	case FactorNoRequest:
		return refuse("no such approval request (another server, person, user or command)")
	case FactorUnclear:
		return refuse("the command could not be read to pick the factor")
	default:
		return refuse("internal error checking the factor")
	}
}

func orUnknown(s string) string {
	if s == "" {
		return "?"
	}
	return s
}
