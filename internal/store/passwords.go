package store

import (
	"context"
	"time"
)

// EgressPassword is one generation of an account's or a group's egress password (The Bastion's
// selfGeneratePassword, groupGeneratePassword): the newest is the current one, the older ones
// are its fallbacks. The password itself is sealed (internal/seal, PurposeEgressPassword).
type EgressPassword struct {
	ID        int64
	OwnerKind string // "account" or "group"
	Owner     string
	Sealed    []byte
	CreatedAt time.Time
	CreatedBy string
}

// MaxEgressPasswords is how many generations are kept (The Bastion keeps the current one and
// 99 fallbacks); adding one more forgets the oldest.
const MaxEgressPasswords = 100

// EgressPasswords keeps egress passwords.
type EgressPasswords interface {
	// AddEgressPassword stores a new current password of its owner and forgets generations
	// beyond MaxEgressPasswords, in one transaction.
	AddEgressPassword(ctx context.Context, p EgressPassword) (EgressPassword, error)
	// ListEgressPasswords returns the owner's passwords, the current one first.
	ListEgressPasswords(ctx context.Context, ownerKind, owner string) ([]EgressPassword, error)
}
