package store

import (
	"context"
	"time"
)

// Group is a bastion group: a set of servers, the accounts that may reach them, and who manages it.
type Group struct {
	Name        string
	CreatedAt   time.Time
	CreatedBy   string
	MFARequired string // none, any, password, totp ("" = none)
	// Idle timeouts in seconds; -1 means "use the global value", 0 disables.
	IdleLockTimeout int
	IdleKillTimeout int
	GuestTTLLimit   time.Duration // 0: no limit
	// Roles maps a role (member, owner, gatekeeper, aclkeeper) to its accounts, sorted.
	Roles map[string][]string
}

// Group roles.
const (
	RoleMember     = "member"
	RoleOwner      = "owner"
	RoleGatekeeper = "gatekeeper"
	RoleAclkeeper  = "aclkeeper"
	// RoleGuest is held while an account has guest accesses in the group (as The Bastion makes a
	// guest a member of the group's Unix group), so GroupsOf finds the groups of guests too.
	RoleGuest = "guest"
)

// Has reports whether account holds role in the group.
func (g *Group) Has(role, account string) bool {
	for _, a := range g.Roles[role] {
		if a == account {
			return true
		}
	}
	return false
}

// ACL entry kinds.
const (
	ACLGroup    = "group"    // a group's server list; Owner is the group
	ACLGuest    = "guest"    // a guest's access to some servers of a group; Owner is the group, Account the guest
	ACLPersonal = "personal" // an account's personal access; Owner is the account
)

// ACLEntry is one allowed user@host:port, possibly a prefix, any user or any port.
type ACLEntry struct {
	ID        int64
	Kind      string
	Owner     string
	Account   string // the guest, for guest entries
	Host      string // IP, prefix or host name
	User      string // "" = any user
	Port      int    // 0 = any port
	Comment   string
	ExpiresAt time.Time // zero = never
	AddedBy   string
	AddedAt   time.Time
	// ForceKey (a SHA256 fingerprint) and ForcePassword (a crypt hash) restrict the access to one
	// egress key or one egress password (--force-key, --force-password); "" for none.
	ForceKey, ForcePassword string
}

// KnownHost is a target's host key as first seen by an account (trust on first use).
type KnownHost struct {
	Account  string
	HostPort string // "host:port" as dialled
	Key      []byte // the wire-format public key
	AddedAt  time.Time
}

// Groups is the part of the store that holds groups, ACLs and known host keys.
type Groups interface {
	CreateGroup(ctx context.Context, g Group) error
	GetGroup(ctx context.Context, name string) (Group, error)
	ListGroups(ctx context.Context) ([]Group, error)
	DeleteGroup(ctx context.Context, name string) error
	// UpdateGroup changes settings (not roles) in one transaction.
	UpdateGroup(ctx context.Context, name string, fn func(*Group) error) error
	// SetRole adds (on=true) or removes an account's role; it reports whether anything changed.
	SetRole(ctx context.Context, group, role, account string, on bool) (bool, error)
	// GroupsOf returns every group where account holds any role.
	GroupsOf(ctx context.Context, account string) ([]Group, error)

	AddACL(ctx context.Context, e ACLEntry) (ACLEntry, error)
	// DeleteACL removes the entry matching kind, owner, account, host, user and port exactly.
	DeleteACL(ctx context.Context, e ACLEntry) error
	ListACL(ctx context.Context, kind, owner, account string) ([]ACLEntry, error)
	// ListACLKind returns every entry of one kind, whatever its owner (one query). With ip (an
	// address as netip writes it, IPv4 unmapped) it leaves out the entries whose host is another
	// IPv4 address (digits and dots only): they cannot match ip (whoHasAccessTo).
	ListACLKind(ctx context.Context, kind, ip string) ([]ACLEntry, error)
	// ReplaceACL sets a whole group server list at once (groupSetServers).
	ReplaceACL(ctx context.Context, kind, owner string, entries []ACLEntry) error

	KnownHostKeys(ctx context.Context, account, hostport string) ([]KnownHost, error)
	AddKnownHost(ctx context.Context, k KnownHost) error
	// ForgetHost removes keys of hostport for one account ("" = every account); it returns how many.
	ForgetHost(ctx context.Context, account, hostport string) (int, error)
	// HasKnownHosts reports whether an account has recorded any host key at all (The Bastion's
	// selfForgetHostKey answers OK_NO_CHANGE for an account without a known_hosts file).
	HasKnownHosts(ctx context.Context, account string) (bool, error)
}
