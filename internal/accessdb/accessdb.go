// Package accessdb loads from the store the inputs of the pure access decision
// (internal/access): an account with its egress keys, its personal ACL, and the groups it
// belongs to with their servers, guests and keys. It is the I/O edge of access; nothing here
// decides anything.
package accessdb

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/store"
)

// Store is what the loader reads: the access decision's inputs.
type Store = store.AccessInputs

// Key converts a stored egress key.
func Key(k store.EgressKey) access.Key {
	family := map[string]string{"ssh-ed25519": "ED25519", "ecdsa-sha2-nistp256": "ECDSA", "ecdsa-sha2-nistp384": "ECDSA",
		"ecdsa-sha2-nistp521": "ECDSA", "ssh-rsa": "RSA"}[k.Type]
	if family == "" {
		family = k.Type
	}
	return access.Key{ID: strconv.FormatInt(k.ID, 10), Fingerprint: k.Fingerprint, Family: family, Size: k.Bits, CreatedAt: k.CreatedAt}
}

// Entry converts a stored ACL entry.
func Entry(e store.ACLEntry) access.Entry {
	return access.Entry{Host: e.Host, User: e.User, Port: e.Port, Comment: e.Comment, Expiry: e.ExpiresAt, AddedBy: e.AddedBy, AddedAt: e.AddedAt,
		ForceKey: e.ForceKey, ForcePassword: e.ForcePassword}
}

func entries(list []store.ACLEntry) []access.Entry {
	out := make([]access.Entry, 0, len(list))
	for _, e := range list {
		out = append(out, Entry(e))
	}
	return out
}

// Account loads an account's decision inputs, with its personal egress keys.
func Account(ctx context.Context, st Store, a store.Account) (access.Account, error) {
	keys, err := st.ListEgressKeys(ctx, "account", a.Name)
	if err != nil {
		return access.Account{}, fmt.Errorf("load egress keys of %s: %w", a.Name, err)
	}
	out := access.Account{Name: a.Name, OSHOnly: a.OshOnly, Frozen: a.Frozen, FrozenReason: a.FrozenReason, Expiry: a.ExpiresAt,
		PersonalEgressMFA: access.MFA(a.Settings["personal_egress_mfa_required"])}
	for _, k := range keys {
		out.EgressKeys = append(out.EgressKeys, Key(k))
	}
	return out, nil
}

// Personal loads an account's personal accesses.
func Personal(ctx context.Context, st Store, account string) ([]access.Entry, error) {
	l, err := st.ListACL(ctx, store.ACLPersonal, account, "")
	if err != nil {
		return nil, fmt.Errorf("load personal accesses of %s: %w", account, err)
	}
	return entries(l), nil
}

func seconds(n int) *time.Duration {
	if n < 0 {
		return nil
	}
	d := time.Duration(n) * time.Second
	return &d
}

// Group converts a stored group, loading its servers, guest accesses and egress keys.
func Group(ctx context.Context, st Store, g store.Group) (access.Group, error) {
	servers, err := st.ListACL(ctx, store.ACLGroup, g.Name, "")
	if err != nil {
		return access.Group{}, fmt.Errorf("load servers of %s: %w", g.Name, err)
	}
	guests, err := st.ListACL(ctx, store.ACLGuest, g.Name, "")
	if err != nil {
		return access.Group{}, fmt.Errorf("load guests of %s: %w", g.Name, err)
	}
	keys, err := st.ListEgressKeys(ctx, "group", g.Name)
	if err != nil {
		return access.Group{}, fmt.Errorf("load keys of %s: %w", g.Name, err)
	}
	out := access.Group{
		Name: g.Name, Servers: entries(servers), Guests: map[string][]access.Entry{},
		Members: g.Roles[store.RoleMember], Owners: g.Roles[store.RoleOwner],
		Gatekeepers: g.Roles[store.RoleGatekeeper], Aclkeepers: g.Roles[store.RoleAclkeeper],
		MFARequired: access.MFA(g.MFARequired), IdleLockTimeout: seconds(g.IdleLockTimeout), IdleKillTimeout: seconds(g.IdleKillTimeout),
		GuestTTLLimit: g.GuestTTLLimit,
	}
	for _, e := range guests {
		out.Guests[e.Account] = append(out.Guests[e.Account], Entry(e))
	}
	for _, k := range keys {
		out.EgressKeys = append(out.EgressKeys, Key(k))
	}
	return out, nil
}

// GroupsOf loads every group where account holds a role.
func GroupsOf(ctx context.Context, st Store, account string) ([]access.Group, error) {
	gs, err := st.GroupsOf(ctx, account)
	if err != nil {
		return nil, fmt.Errorf("load groups of %s: %w", account, err)
	}
	return convert(ctx, st, gs)
}

func convert(ctx context.Context, st Store, gs []store.Group) ([]access.Group, error) {
	out := make([]access.Group, 0, len(gs))
	for _, g := range gs {
		ag, err := Group(ctx, st, g)
		if err != nil {
			return nil, err
		}
		out = append(out, ag)
	}
	return out, nil
}

// Inputs is everything Decide needs for one account.
type Inputs struct {
	Account  access.Account
	Groups   []access.Group
	Personal []access.Entry
	// Keys are the stored egress keys the inputs name, by access.Key.ID: the relay opens the
	// keys the decision chose from here, without listing them again.
	Keys map[string]store.EgressKey
}

// keyCapture keeps the egress keys listed while the inputs load.
type keyCapture struct {
	Store
	keys map[string]store.EgressKey
}

func (c keyCapture) ListEgressKeys(ctx context.Context, kind, owner string) ([]store.EgressKey, error) {
	keys, err := c.Store.ListEgressKeys(ctx, kind, owner)
	for _, k := range keys {
		c.keys[Key(k).ID] = k
	}
	return keys, err
}

// Load loads the inputs of one account's decision; each egress key is listed once.
func Load(ctx context.Context, st Store, a store.Account) (Inputs, error) {
	in := Inputs{Keys: map[string]store.EgressKey{}}
	st = keyCapture{Store: st, keys: in.Keys}
	var err error
	if in.Account, err = Account(ctx, st, a); err != nil {
		return in, err
	}
	if in.Groups, err = GroupsOf(ctx, st, a.Name); err != nil {
		return in, err
	}
	in.Personal, err = Personal(ctx, st, a.Name)
	return in, err
}

// LoadIndex loads the access lists for access.WhoHasAccess to t (its IP and the host name the
// user typed) in five queries whatever the number of accounts and groups (issue 14), and only
// what can match t:
//   - the ACL entries of each kind, the query leaving out other IPv4 addresses than t's, then
//     every entry whose host cannot match t (access.HostMayMatch, the host part of the match:
//     such an entry is never chosen, and the entries kept keep their order);
//   - the groups with a server left (a group grants nothing, to members or guests, unless one
//     of its servers matches), with their roles;
//   - the accounts those groups, guest entries and personal entries name that exist, with their
//     state (no grants or settings), sorted by name; idx.Accounts is their names.
func LoadIndex(ctx context.Context, st store.AccessIndexInputs, t access.Target) (access.Index, []store.Account, error) {
	t.IP = t.IP.Unmap()
	lists := map[string][]store.ACLEntry{}
	for _, kind := range []string{store.ACLGroup, store.ACLGuest, store.ACLPersonal} {
		l, err := st.ListACLKind(ctx, kind, t.IP.String())
		if err != nil {
			return access.Index{}, nil, fmt.Errorf("load %s accesses: %w", kind, err)
		}
		kept := l[:0]
		for _, e := range l {
			if access.HostMayMatch(e.Host, t) {
				kept = append(kept, e)
			}
		}
		lists[kind] = kept
	}
	var groupNames []string
	seen := map[string]bool{}
	for _, e := range lists[store.ACLGroup] {
		if !seen[e.Owner] {
			seen[e.Owner] = true
			groupNames = append(groupNames, e.Owner)
		}
	}
	gs, err := st.GroupsNamed(ctx, groupNames)
	if err != nil {
		return access.Index{}, nil, fmt.Errorf("load groups: %w", err)
	}
	idx := access.Index{Personal: map[string][]access.Entry{}}
	byGroup := map[string]*access.Group{}
	idx.Groups = make([]access.Group, len(gs))
	names := map[string]bool{}
	for i, g := range gs {
		idx.Groups[i] = access.Group{Name: g.Name, Members: g.Roles[store.RoleMember], Guests: map[string][]access.Entry{}}
		byGroup[g.Name] = &idx.Groups[i]
		for _, m := range g.Roles[store.RoleMember] {
			names[m] = true
		}
	}
	for _, e := range lists[store.ACLGroup] {
		if g := byGroup[e.Owner]; g != nil {
			g.Servers = append(g.Servers, Entry(e))
		}
	}
	for _, e := range lists[store.ACLGuest] {
		if g := byGroup[e.Owner]; g != nil {
			g.Guests[e.Account] = append(g.Guests[e.Account], Entry(e))
			names[e.Account] = true
		}
	}
	for _, e := range lists[store.ACLPersonal] {
		idx.Personal[e.Owner] = append(idx.Personal[e.Owner], Entry(e))
		names[e.Owner] = true
	}
	accounts, err := st.AccountStatesNamed(ctx, slices.Sorted(maps.Keys(names)))
	if err != nil {
		return access.Index{}, nil, fmt.Errorf("load accounts: %w", err)
	}
	for _, a := range accounts {
		idx.Accounts = append(idx.Accounts, a.Name)
	}
	return idx, accounts, nil
}
