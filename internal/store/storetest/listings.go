package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// testListingsMatchPerRowReads: each listing (store.Listings, one query for the whole bastion)
// says what the per-account and per-group reads say, read through another handle (another
// node), and sees a write made through the first handle at once.
func testListingsMatchPerRowReads(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Fresh(t)
	other := h.Again(t, s)
	now := time.Now().UTC().Truncate(time.Second)
	var names []string
	for i := range 12 {
		n := fmt.Sprintf("acct%02d", (i*7)%12) // created out of order: the listings sort
		names = append(names, n)
		a := store.Account{Name: n, Comment: "c", CreatedAt: now.Add(-time.Duration(i) * time.Hour), CreatedBy: "admin",
			MaxInactiveDays: i%3 - 1, OshOnly: i%4 == 1, AlwaysActive: i%5 == 2, Frozen: i%3 == 0, FrozenReason: "r"}
		if i%2 == 0 {
			a.ExpiresAt = now.Add(time.Duration(i) * time.Hour)
		}
		switch i % 4 {
		case 0:
			a.Grants = []string{"admin", "accountList"}
		case 1:
			a.Grants = []string{"superowner"}
		case 2:
			a.Grants = []string{"auditor", "superowner", "admin"}
		}
		if err := s.CreateAccount(ctx, a, nil); err != nil {
			t.Fatal(err)
		}
		if i%3 == 1 {
			if err := s.TouchAccount(ctx, n, now.Add(-time.Duration(i)*24*time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		switch i % 4 {
		case 1:
			if err := s.SetMFAPassword(ctx, n, "$argon2id$x", now, i%8 == 5); err != nil {
				t.Fatal(err)
			}
		case 2:
			if err := s.SetMFATOTP(ctx, n, store.MFATOTP{Sealed: []byte("k"), Created: now}); err != nil {
				t.Fatal(err)
			}
		case 3:
			if err := s.SetMFAPassword(ctx, n, "$argon2id$y", now, false); err != nil {
				t.Fatal(err)
			}
			if err := s.SetMFATOTP(ctx, n, store.MFATOTP{ScratchHashes: []string{"h"}, Created: now}); err != nil {
				t.Fatal(err)
			}
		}
	}
	slices.Sort(names)
	for g := range 5 {
		gn := fmt.Sprintf("grp%d", 4-g)
		roles := map[string][]string{store.RoleMember: {names[g], names[g+1]}, store.RoleOwner: {names[g+2]}}
		if err := s.CreateGroup(ctx, store.Group{Name: gn, CreatedAt: now, Roles: roles, IdleLockTimeout: -1, IdleKillTimeout: -1}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddEgressKey(ctx, store.EgressKey{OwnerKind: "group", Owner: gn, Type: "ssh-ed25519", Public: "p", Fingerprint: "SHA256:" + gn, Sealed: []byte("s"), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddEgressKey(ctx, store.EgressKey{OwnerKind: "account", Owner: names[0], Type: "ssh-ed25519", Public: "p", Fingerprint: "SHA256:a", Sealed: []byte("s"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}

	// state is what AccountStates promises of an account read in full.
	state := func(a store.Account) store.Account {
		return store.Account{Name: a.Name, ExpiresAt: a.ExpiresAt, OshOnly: a.OshOnly,
			AlwaysActive: a.AlwaysActive, Frozen: a.Frozen, MaxInactiveDays: a.MaxInactiveDays, LastSeenAt: a.LastSeenAt}
	}
	var want []store.Account
	wantHolders := map[string][]string{}
	wantMFA := map[string]store.MFAConfigured{}
	for _, n := range names {
		a, err := s.GetAccount(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, state(a))
		for _, g := range a.Grants {
			if g == "admin" || g == "superowner" {
				wantHolders[n] = append(wantHolders[n], g)
			}
		}
		m, err := s.GetMFA(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		c := store.MFAConfigured{Password: m.PasswordHash != "" && !m.PasswordTemporary, TOTP: m.TOTPSet}
		if c.Password {
			c.PasswordChanged = m.PasswordChanged
		}
		if m.PasswordHash != "" || m.TOTPSet {
			wantMFA[n] = c
		}
	}
	// ListAccounts reads every account in full, as GetAccount does one (flags, times, grants,
	// settings; SQLite reads the flags packed with the creation time).
	full, err := other.ListAccounts(ctx)
	if err != nil || len(full) != len(names) {
		t.Fatalf("ListAccounts: %d accounts, %v", len(full), err)
	}
	for i, a := range full {
		one, err := s.GetAccount(ctx, names[i])
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range []*store.Account{&a, &one} {
			if len(x.Settings) == 0 {
				x.Settings = nil
			}
			if len(x.Grants) == 0 {
				x.Grants = nil
			}
		}
		if !reflect.DeepEqual(a, one) {
			t.Fatalf("ListAccounts[%d]:\n got %+v\nwant %+v", i, a, one)
		}
	}
	got, err := other.AccountStates(ctx)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("AccountStates: %v\n got %+v\nwant %+v", err, got, want)
	}
	some, err := other.AccountStatesNamed(ctx, []string{names[3], "nobody", names[1], names[3]})
	if err != nil || !reflect.DeepEqual(some, []store.Account{want[1], want[3]}) {
		t.Fatalf("AccountStatesNamed: %v %+v", err, some)
	}
	if none, err := other.AccountStatesNamed(ctx, nil); err != nil || len(none) != 0 {
		t.Fatalf("AccountStatesNamed(nil): %v %+v", err, none)
	}
	holders, err := other.GrantHolders(ctx, []string{"superowner", "admin"})
	if err != nil || !reflect.DeepEqual(holders, wantHolders) {
		t.Fatalf("GrantHolders: %v\n got %v\nwant %v", err, holders, wantHolders)
	}
	mfa, err := other.MFAConfigured(ctx)
	if err != nil || !reflect.DeepEqual(mfa, wantMFA) {
		t.Fatalf("MFAConfigured: %v\n got %v\nwant %v", err, mfa, wantMFA)
	}
	groups, err := s.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantRoles := map[string]map[string][]string{}
	for _, g := range groups {
		for role, accts := range g.Roles {
			for _, a := range accts {
				if wantRoles[a] == nil {
					wantRoles[a] = map[string][]string{}
				}
				wantRoles[a][g.Name] = append(wantRoles[a][g.Name], role)
			}
		}
	}
	for _, gs := range wantRoles {
		for _, roles := range gs {
			slices.Sort(roles)
		}
	}
	roleList, err := other.RolesByAccount(ctx)
	roles := map[string]map[string][]string{}
	for a, groups := range roleList {
		roles[a] = map[string][]string{}
		for _, gr := range groups {
			if _, twice := roles[a][gr.Group]; twice {
				t.Fatalf("RolesByAccount: %s's group %s twice", a, gr.Group)
			}
			roles[a][gr.Group] = gr.Roles
		}
	}
	if err != nil || !reflect.DeepEqual(roles, wantRoles) || len(roles) < 5 {
		t.Fatalf("RolesByAccount: %v\n got %v\nwant %v", err, roles, wantRoles)
	}
	var groupNames []string
	for _, g := range groups {
		groupNames = append(groupNames, g.Name)
	}
	if gn, err := other.GroupNames(ctx); err != nil || !slices.Equal(gn, groupNames) || !slices.IsSorted(gn) || len(gn) != 5 {
		t.Fatalf("GroupNames: %v %v (ListGroups %v)", err, gn, groupNames)
	}
	named, err := other.GroupsNamed(ctx, []string{"grp3", "nogroup", "grp1"})
	if err != nil || len(named) != 2 {
		t.Fatalf("GroupsNamed: %v %+v", err, named)
	}
	for i, name := range []string{"grp1", "grp3"} {
		g, err := s.GetGroup(ctx, name)
		if err != nil || !reflect.DeepEqual(named[i], g) {
			t.Fatalf("GroupsNamed %s: %v\n got %+v\nwant %+v", name, err, named[i], g)
		}
	}
	var wantKeys []store.EgressKey
	for _, g := range groups {
		k, err := s.ListEgressKeys(ctx, "group", g.Name)
		if err != nil {
			t.Fatal(err)
		}
		wantKeys = append(wantKeys, k...)
	}
	slices.SortFunc(wantKeys, func(a, b store.EgressKey) int { return int(a.ID - b.ID) })
	if keys, err := other.ListEgressKeysKind(ctx, "group"); err != nil || !reflect.DeepEqual(keys, wantKeys) {
		t.Fatalf("ListEgressKeysKind: %v\n got %+v\nwant %+v", err, keys, wantKeys)
	}

	// A write through one handle is in the next listing through the other.
	if err := s.UpdateAccount(ctx, names[5], func(a *store.Account) error { a.Grants = append(a.Grants, "admin"); a.Frozen = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, names[0]); err != nil {
		t.Fatal(err)
	}
	holders, _ = other.GrantHolders(ctx, []string{"admin"})
	if _, ok := holders[names[5]]; !ok {
		t.Fatalf("a new admin is not listed: %v", holders)
	}
	if _, ok := holders[names[0]]; ok {
		t.Fatalf("a deleted admin is listed: %v", holders)
	}
	got, _ = other.AccountStates(ctx)
	if len(got) != len(names)-1 || got[0].Name != names[1] || !got[4].Frozen || got[4].Name != names[5] {
		t.Fatalf("after the writes: %+v", got)
	}
}
