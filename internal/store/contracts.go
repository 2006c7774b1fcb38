package store

import (
	"context"
	"time"
)

// The contracts below are named for the code that consumes them: each consumer takes only the
// part of the store it uses, so that a new store (or a test double) implements small, well
// defined contracts. Store is their union and more.

// AccessInputs is what the access decision loads for one account (internal/accessdb): its
// egress keys, its personal ACL, the groups it belongs to with their servers, guests and keys.
type AccessInputs interface {
	ListEgressKeys(ctx context.Context, ownerKind, owner string) ([]EgressKey, error)
	ListACL(ctx context.Context, kind, owner, account string) ([]ACLEntry, error)
	GroupsOf(ctx context.Context, account string) ([]Group, error)
	ListGroups(ctx context.Context) ([]Group, error)
}

// AccessIndexInputs is what whoHasAccessTo loads at once (accessdb.LoadIndex): every ACL entry
// of a kind that may match one address, then the groups and accounts those entries name.
type AccessIndexInputs interface {
	AccessInputs
	ListACLKind(ctx context.Context, kind, ip string) ([]ACLEntry, error)
	GroupsNamed(ctx context.Context, names []string) ([]Group, error)
	AccountStatesNamed(ctx context.Context, names []string) ([]Account, error)
}

// KnownHostKeys is what the relay's host key policy reads and writes (internal/connect).
type KnownHostKeys interface {
	KnownHostKeys(ctx context.Context, account, hostport string) ([]KnownHost, error)
	AddKnownHost(ctx context.Context, k KnownHost) error
}

// SessionRecords is what the session tracker writes (internal/sessionlog): a row when a session
// opens, its completion when it ends, and the sessions a stopped bastion left open.
type SessionRecords interface {
	OpenSession(ctx context.Context, s Session) error
	CloseSession(ctx context.Context, id string, fn func(*Session)) error
	MarkInterrupted(ctx context.Context, at time.Time) ([]Session, error)
}

// Every Store fulfils every contract.
var (
	_ AccessInputs      = Store(nil)
	_ AccessIndexInputs = Store(nil)
	_ KnownHostKeys     = Store(nil)
	_ SessionRecords    = Store(nil)
)
