// Package store defines gatehouse's persistent state: accounts, their keys and grants, and the
// settings that later concerns (MFA, groups, host keys) keep per account.
//
// Invariants every implementation keeps:
//   - Names are validated by the caller (see internal/names) before they reach the store; the store
//     still refuses an empty name.
//   - Every mutating call is one transaction: it either changes everything it names or nothing.
//   - Secrets (egress private keys) are stored sealed; the store never sees them in clear.
//   - A missing row is reported as ErrNotFound, a duplicate as ErrExists, so callers can map them to
//     The Bastion's codes without string matching.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when the named row does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrExists is returned when a row with the same key already exists.
var ErrExists = errors.New("store: already exists")

// Account is one person or robot who may log in to the bastion.
type Account struct {
	// ID is the account's immutable identity, made by the store at creation and never reused:
	// sessions, recordings and running sessions belong to it, so an account created later under
	// a deleted account's name inherits nothing of it.
	ID              string
	Name            string
	Comment         string
	CreatedAt       time.Time
	CreatedBy       string
	ExpiresAt       time.Time // zero: never (accountCreate --ttl sets it)
	OshOnly         bool
	AlwaysActive    bool
	Frozen          bool
	FrozenReason    string
	MaxInactiveDays int // -1: use the global value, 0: never inactive
	LastSeenAt      time.Time
	// Grants are the restricted commands this account may run, and the pseudo-commands
	// "admin", "superowner" and "auditor" that give roles.
	Grants []string
	// Settings are per-account flags keyed by The Bastion's option name with underscores
	// (idle_ignore, egress_strict_host_key_checking, mfa_password_required …).
	Settings map[string]string
}

// HasGrant reports whether the account holds the named command or role.
func (a *Account) HasGrant(name string) bool {
	for _, g := range a.Grants {
		if g == name {
			return true
		}
	}
	return false
}

// IngressKey is a public key an account logs in with.
type IngressKey struct {
	ID          int64
	Account     string
	Line        string // the authorized_keys line, options included, as given
	Type        string
	Fingerprint string // SHA256:…
	Comment     string
	From        string // the from="…" pattern list, empty when absent
	CreatedAt   time.Time
}

// EgressKey is a key pair gatehouse uses to reach targets on behalf of an account or a group.
type EgressKey struct {
	ID          int64
	OwnerKind   string // "account" or "group"
	Owner       string
	Type        string
	Bits        int
	Public      string // authorized_keys line, without any from= prefix
	Fingerprint string
	Sealed      []byte // the private key in OpenSSH PEM form, sealed (see internal/seal)
	CreatedAt   time.Time
}

// Store is gatehouse's state. Implementations are safe for concurrent use.
type Store interface {
	CountAccounts(ctx context.Context) (int, error)
	CreateAccount(ctx context.Context, a Account, keys []IngressKey) error
	GetAccount(ctx context.Context, name string) (Account, error)
	// ListAccounts returns every account in full, sorted by name; an account without settings
	// has nil Settings (10,000 empty maps per listing otherwise, issue 14): read them only.
	ListAccounts(ctx context.Context) ([]Account, error)
	DeleteAccount(ctx context.Context, name string) error
	// UpdateAccount loads the account, lets fn change it and saves it in one transaction.
	// Grants and Settings are saved as fn leaves them.
	UpdateAccount(ctx context.Context, name string, fn func(*Account) error) error
	TouchAccount(ctx context.Context, name string, at time.Time) error

	// The accounts a key sync source manages (internal/keysync): see SyncedAccount.
	SyncedAccounts(ctx context.Context) ([]SyncedAccount, error)
	CreateSyncedAccount(ctx context.Context, source string, a Account, keys []IngressKey) error
	SyncFreeze(ctx context.Context, account, source string, freeze bool, reason string) (Account, error)
	SyncManages(ctx context.Context, account, source string) (bool, error)

	AddIngressKey(ctx context.Context, k IngressKey) (IngressKey, error)
	ListIngressKeys(ctx context.Context, account string) ([]IngressKey, error)
	DeleteIngressKey(ctx context.Context, account, fingerprint string) error
	FindIngressKey(ctx context.Context, account, fingerprint string) (IngressKey, error)

	AddEgressKey(ctx context.Context, k EgressKey) (EgressKey, error)
	ListEgressKeys(ctx context.Context, ownerKind, owner string) ([]EgressKey, error)
	DeleteEgressKey(ctx context.Context, ownerKind, owner, fingerprint string) error
	EgressPasswords

	Groups
	Listings
	Sessions
	MFA
	Approvals
	SourcePenalties
	MFASources
	SessionLocks

	// BastionSetting returns a bastion-wide setting ("" when unset); SetBastionSetting sets it
	// ("" removes it). They hold state commands change, such as the maintenance mode.
	BastionSetting(ctx context.Context, key string) (string, error)
	SetBastionSetting(ctx context.Context, key, value, by string) error

	Close() error
}
