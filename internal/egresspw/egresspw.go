// Package egresspw holds the egress passwords of accounts and groups (The Bastion's
// selfGeneratePassword, groupGeneratePassword …): generated here, sealed at rest like the
// egress keys (internal/seal), listed only as hashes, and used for "SSH with password
// autologin" (-P / --self-password, --password GROUP) to devices that take no keys.
//
// Which password a connection may use is decided by MayUse, a pure function: the account's own
// only for an access the account has, a group's only for an access the account has through
// that group (member or guest). Every other case refuses.
package egresspw

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/seal"
	"gatehouse/internal/store"
)

// SealPurpose binds sealed egress passwords to their use.
const SealPurpose = "egress-password"

// Sizes The Bastion accepts (--size); 16 is its default.
const (
	MinSize     = 8
	MaxSize     = 128
	DefaultSize = 16
)

// alphabet has no quote, space, backslash or '$': the password survives any shell or device.
const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#%+,-./:=@_"

// CheckSize applies The Bastion's bounds and the minPasswordSize policy (0: none).
func CheckSize(size, policyMin int) error {
	if size < MinSize {
		//lint:ignore ST1005 The Bastion's sentence, shown to the user as is
		return fmt.Errorf("Specified size must be >= %d", MinSize)
	}
	if size > MaxSize {
		//lint:ignore ST1005 The Bastion's sentence, shown to the user as is
		return fmt.Errorf("Specified size must be <= %d", MaxSize)
	}
	if policyMin > 0 && size < policyMin {
		//lint:ignore ST1005 The Bastion's sentence, shown to the user as is
		return fmt.Errorf("The minimum allowed password size defined by policy is %d characters, you asked only %d", policyMin, size)
	}
	return nil
}

// Generate returns a uniformly random password of size characters from alphabet.
func Generate(r io.Reader, size int) (string, error) {
	if err := CheckSize(size, 0); err != nil {
		return "", err
	}
	out := make([]byte, size)
	n := big.NewInt(int64(len(alphabet)))
	for i := range out {
		k, err := rand.Int(r, n)
		if err != nil {
			return "", fmt.Errorf("random: %w", err)
		}
		out[i] = alphabet[k.Int64()]
	}
	return string(out), nil
}

// Store is what the passwords need of the store.
type Store interface {
	store.EgressPasswords
}

// New generates, seals and stores a new current password of kind/owner ("account" or "group"),
// and returns it with its hashes. The previous ones stay as fallbacks.
func New(ctx context.Context, st Store, s *seal.Sealer, kind, owner, by string, size int, now time.Time) (string, map[string]string, error) {
	pw, err := Generate(rand.Reader, size)
	if err != nil {
		return "", nil, err
	}
	sealed, err := s.Seal(SealPurpose, []byte(pw))
	if err != nil {
		return "", nil, fmt.Errorf("seal the password: %w", err)
	}
	if _, err := st.AddEgressPassword(ctx, store.EgressPassword{OwnerKind: kind, Owner: owner, Sealed: sealed, CreatedAt: now.UTC(), CreatedBy: by}); err != nil {
		return "", nil, fmt.Errorf("store the password: %w", err)
	}
	return pw, Hashes(pw), nil
}

// Listed is one password as the list commands show it: never the password, only its hashes.
type Listed struct {
	Description string            `json:"description"`
	Hashes      map[string]string `json:"hashes"`
	Metadata    map[string]any    `json:"metadata"`
}

// List returns the passwords of kind/owner, the current one first.
func List(ctx context.Context, st Store, s *seal.Sealer, kind, owner string) ([]Listed, error) {
	rows, err := st.ListEgressPasswords(ctx, kind, owner)
	if err != nil {
		return nil, err
	}
	out := []Listed{}
	for i, r := range rows {
		pw, err := s.Open(SealPurpose, r.Sealed)
		if err != nil {
			return nil, fmt.Errorf("open password %d of %s: %w", r.ID, owner, err)
		}
		desc := "Current password"
		if i > 0 {
			desc = fmt.Sprintf("Fallback password %d", i)
		}
		created := r.CreatedAt.Local().Format("Mon Jan _2 15:04:05 2006")
		desc += fmt.Sprintf(" created at %s by %s", created, r.CreatedBy)
		out = append(out, Listed{Description: desc, Hashes: Hashes(string(pw)),
			Metadata: map[string]any{"created_by": r.CreatedBy, "creation_time": created, "creation_timestamp": r.CreatedAt.Unix()}})
	}
	return out, nil
}

// Passwords returns the passwords of kind/owner in the order to try them: the current one, then
// the fallbacks. ErrNone when there is none.
func Passwords(ctx context.Context, st Store, s *seal.Sealer, kind, owner string) ([]string, error) {
	rows, err := st.ListEgressPasswords(ctx, kind, owner)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, ErrNone
	}
	var out []string
	for _, r := range rows {
		pw, err := s.Open(SealPurpose, r.Sealed)
		if err != nil {
			return nil, fmt.Errorf("open a password of %s: %w", owner, err)
		}
		out = append(out, string(pw))
	}
	return out, nil
}

// ErrNone is returned when the owner has no egress password.
var ErrNone = errors.New("no egress password")

// Use names the password a connection asks for: the account's own (-P) or a group's
// (--password GROUP).
type Use struct {
	Self  bool
	Group string
}

// MayUse decides whether a connection allowed by d may log in with the password named by u.
// The account's own password goes with any of its accesses (it is the account's secret, as its
// personal key); a group's only with an access through that group, as member or guest: being
// allowed to the host through another group or personally does not open a group's password.
func MayUse(u Use, d access.Decision) error {
	if len(d.Grants) == 0 {
		return errors.New("no access to this host")
	}
	if u.Self == (u.Group != "") {
		return errors.New("give either -P (your own password) or --password GROUP")
	}
	if u.Self {
		return nil
	}
	for _, g := range d.Grants {
		if (g.Kind == access.KindGroupMember || g.Kind == access.KindGroupGuest) && g.Group == u.Group {
			return nil
		}
	}
	return fmt.Errorf("you have no access to this host through group %s, so its egress password cannot be used", u.Group)
}

// Forced is the hash the access bound the password to (--force-password), "" when free: for
// the account's own password its personal accesses', for a group's that group's accesses'.
func Forced(u Use, d access.Decision) string {
	for _, g := range d.Grants {
		mine := u.Self && g.Kind == access.KindPersonal
		group := !u.Self && g.Group == u.Group && (g.Kind == access.KindGroupMember || g.Kind == access.KindGroupGuest)
		if (mine || group) && g.ForcePassword != "" {
			return g.ForcePassword
		}
	}
	return ""
}

// KeepForced keeps the passwords one of whose hashes is hash (all when hash is ""); none is
// ErrForcedNotFound.
func KeepForced(pws []string, hash string) ([]string, error) {
	if hash == "" {
		return pws, nil
	}
	// Only the hash's own kind is computed (each costs 10,000 HMACs for its salt).
	var out []string
	for _, pw := range pws {
		if k := kindOf(hash); k != "" && hashOf(pw, k) == hash {
			out = append(out, pw)
		}
	}
	if len(out) == 0 {
		return nil, ErrForcedNotFound
	}
	return out, nil
}

// ErrForcedNotFound is The Bastion's "The forced password could not be found".
//
//lint:ignore ST1005 The Bastion's sentence, shown to the user as is
var ErrForcedNotFound = errors.New("The forced password could not be found")
