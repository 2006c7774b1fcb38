package store

import (
	"context"
	"time"
)

// Listings are the reads of the commands that list or search the whole bastion (accountList,
// accountInfo --all, info, groupList, groupInfo --all, whoHasAccessTo): each is one query
// whatever the number of accounts or groups, and reads only what those commands show, so that
// they stay fast at 10,000 accounts (issue 14). Lists of names are passed as one parameter, not
// one placeholder per name.
type Listings interface {
	// AccountStates returns every account, sorted by name, with its state (ExpiresAt, OshOnly,
	// AlwaysActive, Frozen, MaxInactiveDays, LastSeenAt: whether it is active and may connect)
	// and nothing else (ID, CreatedAt, comment, creator, freeze reason, grants and settings are
	// left empty): at 10,000 accounts each column read is a cost.
	AccountStates(ctx context.Context) ([]Account, error)
	// AccountStatesNamed is AccountStates for the named accounts that exist (the others are
	// left out), sorted by name.
	AccountStatesNamed(ctx context.Context, names []string) ([]Account, error)
	// GrantHolders returns, for every account holding at least one of commands, the ones it
	// holds, sorted.
	GrantHolders(ctx context.Context, commands []string) (map[string][]string, error)
	// GroupNames returns every group's name, sorted.
	GroupNames(ctx context.Context) ([]string, error)
	// GroupsNamed returns the named groups that exist, with their roles, sorted by name.
	GroupsNamed(ctx context.Context, names []string) ([]Group, error)
	// MFAConfigured returns, for every account with a factor, which are configured: a password
	// that is not temporary (and when it was set), a TOTP secret. Never the factors themselves.
	MFAConfigured(ctx context.Context) (map[string]MFAConfigured, error)
	// RolesByAccount returns, for every account holding a role in a group, its groups and its
	// roles in each (sorted), the groups in no order: accountInfo --all's "groups", without
	// reading the groups. A list per account rather than a map (a map per account was 4 MB of
	// the 10,000 accounts' answer, issue 14). The lists of roles may share their arrays: read
	// them, do not write into them.
	RolesByAccount(ctx context.Context) (map[string][]GroupRoles, error)
	// ListEgressKeysKind returns every egress key of one owner kind ("account" or "group"),
	// ordered by id (groupInfo --all).
	ListEgressKeysKind(ctx context.Context, ownerKind string) ([]EgressKey, error)
}

// GroupRoles is an account's roles in one group (RolesByAccount).
type GroupRoles struct {
	Group string
	Roles []string
}

// MFAConfigured says which second factors an account has configured.
type MFAConfigured struct {
	Password bool // a password hash that is not a temporary one
	TOTP     bool
	// PasswordChanged is when that password was set (zero without one): accountInfo
	// --with-mfa-password-info for every account in this one query (issue 14).
	PasswordChanged time.Time
}
