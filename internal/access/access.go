// Package access decides who may go where: accounts, groups, their roles and
// server ACLs, and the accesses that match a connection request.
//
// Everything here is pure: no I/O, no clock (callers pass now), no globals.
// The caller loads accounts, groups and personal ACLs from its store, calls
// Decide, prints TryLines, then hands the chosen keys to the egress client.
//
// Invariants (all fail closed):
//   - A missing, zero or invalid value never grants anything: an entry with an
//     unparsable host matches nothing, a target without a valid IP, user or
//     port is refused, an expired entry or account is ignored or refused.
//   - Guests need both a guest entry and a matching entry in the group's own
//     server list (The Bastion checks both, so removing a server from the
//     group also cuts its guests).
//   - Order of accesses follows The Bastion's is_access_granted: personal
//     first, then groups. The Bastion walks groups in hash order; we sort them
//     by name so the output is stable.
package access

import (
	"net/netip"
	"time"
)

// MFA is an MFA requirement as The Bastion names it (groupModify
// --mfa-required, accountModify --personal-egress-mfa-required).
type MFA string

const (
	MFANone     MFA = "none"
	MFAPassword MFA = "password"
	MFATOTP     MFA = "totp"
	MFAAny      MFA = "any"
)

// Required reports whether m asks for a second factor. Unknown non-empty
// values count as required: a typo in the store must not turn MFA off.
func (m MFA) Required() bool { return m != "" && m != MFANone }

// Kind is how an access was granted, with The Bastion's names.
type Kind string

const (
	KindPersonal    Kind = "personal"
	KindGroupMember Kind = "group-member"
	KindGroupGuest  Kind = "group-guest"
)

// Key describes one egress key pair held by the bastion (the private half
// stays in the store; the decision only needs to name it).
type Key struct {
	ID          string    // store identifier, used to fetch the signer and to de-duplicate
	Fingerprint string    // "SHA256:…"
	Family      string    // "ED25519", "ECDSA", "RSA" (as The Bastion prints it)
	Size        int       // bits: 256 for ed25519, 256/384/521 for ecdsa, 2048–8192 for rsa
	CreatedAt   time.Time // shown as [YYYY/MM/DD]; newest keys are tried first
}

// Entry is one line of a server ACL (group servers, guest accesses, personal
// accesses). The zero User means any user, the zero Port any port, the zero
// Expiry never expires.
type Entry struct {
	Host    string // IP ("10.0.0.5"), prefix ("10.0.0.0/24") or host name ("db1.example.org")
	User    string // remote user; may hold The Bastion's * and ? wildcards; "" = any
	Port    int    // 1–65535; 0 = any
	Comment string
	Expiry  time.Time
	AddedBy string
	AddedAt time.Time
	// ForceKey and ForcePassword bind the access to one egress key (fingerprint) or password
	// (crypt hash): --force-key, --force-password.
	ForceKey, ForcePassword string
}

// Expired reports whether e has a TTL that has run out at now.
func (e Entry) Expired(now time.Time) bool { return !e.Expiry.IsZero() && !now.Before(e.Expiry) }

// Account is the part of an account that the access decision reads.
type Account struct {
	Name    string
	OSHOnly bool      // may run --osh commands but never connect anywhere
	Frozen  bool      // refused before anything else (exit 131)
	Expiry  time.Time // account TTL; zero = none
	// FrozenReason is appended to the frozen message when set.
	FrozenReason string
	// EgressKeys are the account's personal keys, offered for personal accesses.
	EgressKeys []Key
	// PersonalEgressMFA is --personal-egress-mfa-required.
	PersonalEgressMFA MFA
}

// Group is a bastion group with its roles, ACL and settings.
type Group struct {
	Name        string
	Servers     []Entry
	Members     []string
	Guests      map[string][]Entry // account name → that guest's entries
	Owners      []string
	Gatekeepers []string
	Aclkeepers  []string
	MFARequired MFA
	// IdleLockTimeout and IdleKillTimeout are the group's overrides; nil
	// means "use the global value" (The Bastion's -1), 0 disables.
	IdleLockTimeout *time.Duration
	IdleKillTimeout *time.Duration
	// GuestTTLLimit, when positive, is the longest TTL a guest access may
	// have (and guest accesses must then have one).
	GuestTTLLimit time.Duration
	EgressKeys    []Key
}

// Target is what the user asked for, after the caller resolved the host.
type Target struct {
	User string     // remote user (the caller fills its default before Decide)
	Host string     // what the user typed, host name or IP
	IP   netip.Addr // the address the egress client will connect to
	Port int
}
