// Package storetest is the one contract test suite every store.Store implementation passes
// (internal/store/sqlite, internal/store/postgres): what the rest of gatehouse relies on,
// written once and run against each engine.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// Harness opens stores for the suite.
type Harness struct {
	// Fresh returns an empty store of its own, closed at the end of the test.
	Fresh func(t *testing.T) store.Store
	// Again returns a second handle on the same database as s (another node), closed at the
	// end of the test.
	Again func(t *testing.T, s store.Store) store.Store
}

// Run runs every contract test against the harness's stores.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"AccountsRoundTrip", testAccountsRoundTrip},
		{"ConcurrentUpdatesDoNotLoseWrites", testConcurrentUpdates},
		{"GroupsACLAndKnownHosts", testGroupsACLAndKnownHosts},
		{"DeleteAccountLeavesNothingBehind", testDeleteAccountLeavesNothingBehind},
		{"AccountIDImmutableAndNeverReused", testAccountIDImmutable},
		{"EgressKeys", testEgressKeys},
		{"Sessions", testSessions},
		{"BastionSettingsSharedByHandles", testBastionSettings},
		{"MFACredentialsRoundTrip", testMFACredentialsRoundTrip},
		{"MFAAtomicOperations", testMFAAtomicOperations},
		{"MFASecretCreatedOnce", testMFASecretCreatedOnce},
		{"TwoHandlesRaceOneWinner", testTwoHandlesRace},
		{"ApprovalCompareAndSet", testApprovalCompareAndSet},
		{"ApprovalDecidedThroughOtherHandle", testApprovalOtherHandle},
		{"ApprovalNoncesAndSettings", testApprovalNoncesAndSettings},
		{"PendingApprovals", testPendingApprovals},
		{"SyncedAccounts", testSyncedAccounts},
		{"ListACLKindFiltersOtherAddresses", testListACLKind},
		{"ListingsMatchPerRowReads", testListingsMatchPerRowReads},
		{"EgressPasswords", testEgressPasswords},
		{"SourcePenaltiesShared", testSourcePenaltiesShared},
		{"MFASourcesShared", testMFASourcesShared},
		{"SessionLocksStored", testSessionLocksStored},
		{"MFASourcesCapped", testMFASourcesCapped},
		{"SessionLockGoesWithAccount", testSessionLockGoesWithAccount},
		{"MFALimitsShared", testMFALimitsShared},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each test has a store of its own
			tc.fn(t, h)
		})
	}
}

func withAccounts(t *testing.T, s store.Store, names ...string) context.Context {
	t.Helper()
	ctx := context.Background()
	for _, n := range names {
		if err := s.CreateAccount(ctx, store.Account{Name: n, CreatedAt: time.Now(), MaxInactiveDays: -1}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return ctx
}

func testAccountsRoundTrip(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Fresh(t)
	now := time.Now().UTC().Truncate(time.Second)
	a := store.Account{Name: "alice", Comment: "c", CreatedAt: now, CreatedBy: "root", ExpiresAt: now.Add(time.Hour), OshOnly: true,
		AlwaysActive: true, Frozen: true, FrozenReason: "why", MaxInactiveDays: 7, LastSeenAt: now.Add(-time.Hour),
		Grants: []string{"auditor", "accountList"}, Settings: map[string]string{"idle_ignore": "yes"}}
	key := store.IngressKey{Line: "ssh-ed25519 AAAA", Type: "ssh-ed25519", Fingerprint: "SHA256:x", Comment: "k", From: "10.0.0.0/8"}
	if err := s.CreateAccount(ctx, a, []store.IngressKey{key}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(ctx, a, nil); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate account: %v", err)
	}
	// A failed transaction changes nothing: the duplicate key makes the whole create fail.
	if err := s.CreateAccount(ctx, store.Account{Name: "bob", CreatedAt: now}, []store.IngressKey{key, key}); err == nil {
		t.Fatal("duplicate key accepted")
	}
	if _, err := s.GetAccount(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("half-created account left behind: %v", err)
	}
	// Another handle (another node) reads what this one wrote.
	got, err := h.Again(t, s).GetAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !got.OshOnly || !got.AlwaysActive || !got.Frozen || got.FrozenReason != "why" || got.MaxInactiveDays != 7 ||
		!got.ExpiresAt.Equal(a.ExpiresAt) || !got.LastSeenAt.Equal(a.LastSeenAt) || !got.CreatedAt.Equal(now) ||
		got.CreatedBy != "root" || !got.HasGrant("auditor") || len(got.Grants) != 2 || got.Settings["idle_ignore"] != "yes" {
		t.Fatalf("got %+v", got)
	}
	k, err := s.FindIngressKey(ctx, "alice", "SHA256:x")
	if err != nil || k.From != "10.0.0.0/8" || k.Comment != "k" || k.ID == 0 {
		t.Fatalf("key %+v %v", k, err)
	}
	if _, err := s.AddIngressKey(ctx, store.IngressKey{Account: "nobody", Fingerprint: "SHA256:y"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("key for a missing account: %v", err)
	}
	if _, err := s.AddIngressKey(ctx, store.IngressKey{Account: "alice", Line: "l2", Type: "t", Fingerprint: "SHA256:y"}); err != nil {
		t.Fatal(err)
	}
	if keys, _ := s.ListIngressKeys(ctx, "alice"); len(keys) != 2 || keys[0].Fingerprint != "SHA256:x" {
		t.Fatalf("keys %+v", keys)
	}
	if err := s.DeleteIngressKey(ctx, "alice", "SHA256:y"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteIngressKey(ctx, "alice", "SHA256:y"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	at := now.Add(time.Minute)
	if err := s.TouchAccount(ctx, "alice", at); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.ListAccounts(ctx); len(all) != 1 || !all[0].LastSeenAt.Equal(at) || all[0].Settings["idle_ignore"] != "yes" {
		t.Fatalf("list %+v", all)
	}
	if n, _ := s.CountAccounts(ctx); n != 1 {
		t.Fatalf("count %d", n)
	}
	if err := s.DeleteAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if keys, _ := s.ListIngressKeys(ctx, "alice"); len(keys) != 0 {
		t.Fatal("keys of a deleted account remain")
	}
}

func testConcurrentUpdates(t *testing.T, h Harness) {
	s := h.Fresh(t)
	other := h.Again(t, s)
	ctx := withAccounts(t, s, "a")
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			st := s
			if i%2 == 1 {
				st = other
			}
			err := st.UpdateAccount(ctx, "a", func(a *store.Account) error {
				a.Grants = append(a.Grants, fmt.Sprintf("cmd%d", i))
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	a, _ := s.GetAccount(ctx, "a")
	if len(a.Grants) != 20 {
		t.Fatalf("lost updates: %d grants", len(a.Grants))
	}
	if err := s.UpdateAccount(ctx, "a", func(a *store.Account) error { a.Comment = "x"; return errors.New("no") }); err == nil {
		t.Fatal("a failing fn reported success")
	}
	if a, _ := s.GetAccount(ctx, "a"); a.Comment == "x" {
		t.Fatal("a failed update was saved")
	}
}

func testGroupsACLAndKnownHosts(t *testing.T, h Harness) {
	s := h.Fresh(t)
	ctx := withAccounts(t, s, "o", "m")
	g := store.Group{Name: "web", CreatedAt: time.Now(), IdleLockTimeout: -1, IdleKillTimeout: 30, GuestTTLLimit: time.Hour,
		Roles: map[string][]string{store.RoleOwner: {"o"}, store.RoleMember: {"o"}}}
	if err := s.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateGroup(ctx, g); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate group: %v", err)
	}
	if changed, _ := s.SetRole(ctx, "web", store.RoleMember, "m", true); !changed {
		t.Fatal("add member reported no change")
	}
	if changed, _ := s.SetRole(ctx, "web", store.RoleMember, "m", true); changed {
		t.Fatal("second add member reported a change")
	}
	gs, _ := s.GroupsOf(ctx, "m")
	if len(gs) != 1 || !gs[0].Has(store.RoleMember, "m") || gs[0].IdleKillTimeout != 30 || gs[0].GuestTTLLimit != time.Hour {
		t.Fatalf("GroupsOf: %+v", gs)
	}
	e := store.ACLEntry{Kind: store.ACLGroup, Owner: "web", Host: "10.0.0.0/24", User: "root", Port: 22, Comment: "c",
		ExpiresAt: time.Now().Add(time.Hour).Truncate(time.Second), AddedBy: "o", AddedAt: time.Now(), ForceKey: "SHA256:k"}
	if e2, err := s.AddACL(ctx, e); err != nil || e2.ID == 0 {
		t.Fatal(e2, err)
	}
	if _, err := s.AddACL(ctx, e); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate ACL: %v", err)
	}
	if l, _ := s.ListACL(ctx, store.ACLGroup, "web", ""); len(l) != 1 || l[0].User != "root" || !l[0].ExpiresAt.Equal(e.ExpiresAt) || l[0].ForceKey != "SHA256:k" {
		t.Fatalf("ListACL %+v", l)
	}
	if err := s.ReplaceACL(ctx, store.ACLGroup, "web", []store.ACLEntry{{Host: "a", ForcePassword: "$6$s$h"}, {Host: "b", Port: 2222}, {Host: "b", Port: 2222}}); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.ListACL(ctx, store.ACLGroup, "web", ""); len(l) != 2 || l[0].ForcePassword != "$6$s$h" {
		t.Fatalf("after replace %+v", l)
	}
	if err := s.DeleteACL(ctx, store.ACLEntry{Kind: store.ACLGroup, Owner: "web", Host: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteACL(ctx, store.ACLEntry{Kind: store.ACLGroup, Owner: "web", Host: "a"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second DeleteACL: %v", err)
	}
	_ = s.UpdateGroup(ctx, "web", func(g *store.Group) error { g.MFARequired = "any"; return nil })
	if g, _ := s.GetGroup(ctx, "web"); g.MFARequired != "any" || len(g.Roles[store.RoleOwner]) != 1 {
		t.Fatalf("UpdateGroup: %+v", g)
	}
	if all, _ := s.ListGroups(ctx); len(all) != 1 {
		t.Fatalf("ListGroups %+v", all)
	}
	if changed, _ := s.SetRole(ctx, "web", store.RoleMember, "m", false); !changed {
		t.Fatal("remove member reported no change")
	}
	if err := s.DeleteGroup(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetGroup(ctx, "web"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted group: %v", err)
	}
	if l, _ := s.ListACL(ctx, store.ACLGroup, "web", ""); len(l) != 0 {
		t.Fatal("ACL of a deleted group remains")
	}
	_ = s.AddKnownHost(ctx, store.KnownHost{Account: "m", HostPort: "h:22", Key: []byte{1, 2}, AddedAt: time.Now()})
	_ = s.AddKnownHost(ctx, store.KnownHost{Account: "m", HostPort: "h:22", Key: []byte{1, 2}, AddedAt: time.Now()})
	_ = s.AddKnownHost(ctx, store.KnownHost{Account: "o", HostPort: "h:22", Key: []byte{1, 2}, AddedAt: time.Now()})
	if k, _ := s.KnownHostKeys(ctx, "m", "h:22"); len(k) != 1 || string(k[0].Key) != "\x01\x02" {
		t.Fatal("known host not stored")
	}
	if has, err := s.HasKnownHosts(ctx, "m"); !has || err != nil {
		t.Fatalf("HasKnownHosts(m) = %v, %v", has, err)
	}
	if has, err := s.HasKnownHosts(ctx, "nobody"); has || err != nil {
		t.Fatalf("HasKnownHosts(nobody) = %v, %v", has, err)
	}
	if n, _ := s.ForgetHost(ctx, "", "h:22"); n != 2 {
		t.Fatalf("ForgetHost for everyone removed %d", n)
	}
	if has, err := s.HasKnownHosts(ctx, "m"); has || err != nil {
		t.Fatalf("HasKnownHosts(m) after ForgetHost = %v, %v", has, err)
	}
}

func testDeleteAccountLeavesNothingBehind(t *testing.T, h Harness) {
	s := h.Fresh(t)
	ctx := withAccounts(t, s, "a", "o")
	_ = s.CreateGroup(ctx, store.Group{Name: "g", CreatedAt: time.Now(), Roles: map[string][]string{store.RoleOwner: {"o"}, store.RoleMember: {"a"}}})
	_, _ = s.AddACL(ctx, store.ACLEntry{Kind: store.ACLPersonal, Owner: "a", Host: "10.0.0.1", AddedAt: time.Now()})
	_, _ = s.AddACL(ctx, store.ACLEntry{Kind: store.ACLGuest, Owner: "g", Account: "a", Host: "10.0.0.2", AddedAt: time.Now()})
	_ = s.AddKnownHost(ctx, store.KnownHost{Account: "a", HostPort: "h", Key: []byte{1}, AddedAt: time.Now()})
	_, _ = s.AddEgressKey(ctx, store.EgressKey{OwnerKind: "account", Owner: "a", Type: "t", Public: "p", Fingerprint: "f", Sealed: []byte{1}})
	_ = s.SetMFAPassword(ctx, "a", "$argon2id$a", time.Now(), false)
	_ = s.SetMFATOTP(ctx, "a", store.MFATOTP{Sealed: []byte("k"), ScratchHashes: []string{"x"}, HasLastStep: true, LastStep: 9})
	if err := s.DeleteAccount(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	withAccounts(t, s, "a")
	p, _ := s.ListACL(ctx, store.ACLPersonal, "a", "")
	g, _ := s.ListACL(ctx, store.ACLGuest, "g", "a")
	k, _ := s.KnownHostKeys(ctx, "a", "h")
	e, _ := s.ListEgressKeys(ctx, "account", "a")
	gs, _ := s.GroupsOf(ctx, "a")
	if len(p)+len(g)+len(k)+len(e)+len(gs) != 0 {
		t.Fatalf("a new account inherited: %d personal, %d guest, %d host keys, %d egress keys, %d groups", len(p), len(g), len(k), len(e), len(gs))
	}
	c, _ := s.GetMFA(ctx, "a")
	if _, ok, _ := s.LastTOTPStep(ctx, "a"); c.PasswordHash != "" || c.TOTPSet || c.ScratchLeft != 0 || ok {
		t.Fatalf("a new account inherited second factors: %+v", c)
	}
}

// The store gives each account its own id, ignores one a caller passes, keeps it through
// updates, and gives a new one to a namesake.
func testAccountIDImmutable(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Fresh(t)
	now := time.Now().UTC()
	if err := s.CreateAccount(ctx, store.Account{ID: "chosen-by-caller", Name: "bob", CreatedAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	first, err := s.GetAccount(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if len(first.ID) != 32 || first.ID == "chosen-by-caller" {
		t.Fatalf("id %q: the store must make it", first.ID)
	}
	if err := s.UpdateAccount(ctx, "bob", func(a *store.Account) error { a.ID = "other"; a.Comment = "x"; return nil }); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.GetAccount(ctx, "bob"); again.ID != first.ID {
		t.Fatalf("an update changed the id: %q → %q", first.ID, again.ID)
	}
	if err := s.OpenSession(ctx, store.Session{ID: "s-old", Account: "bob", AccountID: first.ID, Kind: "osh", StartedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(ctx, store.Account{Name: "bob", CreatedAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	second, _ := s.GetAccount(ctx, "bob")
	if second.ID == first.ID || second.ID == "" {
		t.Fatalf("the namesake got id %q (first %q)", second.ID, first.ID)
	}
	if mine, err := s.ListSessions(ctx, store.SessionFilter{AccountID: second.ID}); err != nil || len(mine) != 0 {
		t.Fatalf("the namesake's sessions: %v %v", mine, err)
	}
	if old, err := s.ListSessions(ctx, store.SessionFilter{AccountID: first.ID}); err != nil || len(old) != 1 || old[0].AccountID != first.ID {
		t.Fatalf("the deleted account's sessions: %v %v", old, err)
	}
}

func testEgressKeys(t *testing.T, h Harness) {
	s := h.Fresh(t)
	ctx := context.Background()
	k := store.EgressKey{OwnerKind: "group", Owner: "g", Type: "ssh-ed25519", Bits: 256, Public: "ssh-ed25519 AAAA", Fingerprint: "SHA256:e", Sealed: []byte{0, 1, 2, 255}}
	k1, err := s.AddEgressKey(ctx, k)
	if err != nil || k1.ID == 0 {
		t.Fatal(k1, err)
	}
	if _, err := s.AddEgressKey(ctx, k); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate egress key: %v", err)
	}
	l, _ := s.ListEgressKeys(ctx, "group", "g")
	if len(l) != 1 || string(l[0].Sealed) != string(k.Sealed) || l[0].Bits != 256 || l[0].CreatedAt.IsZero() {
		t.Fatalf("egress keys %+v", l)
	}
	if err := s.DeleteEgressKey(ctx, "group", "g", "SHA256:e"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEgressKey(ctx, "group", "g", "SHA256:e"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func testSessions(t *testing.T, h Harness) {
	s := h.Fresh(t)
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 123456789, time.UTC)
	for i, sess := range []store.Session{
		{ID: "s1", Account: "alice", AccountID: "ida", Kind: "ssh", User: "root", Host: "db1", IPTo: "10.0.0.1", PortTo: 22, IPFrom: "192.0.2.1", PortFrom: 5555},
		{ID: "s2", Account: "alice", AccountID: "ida", Kind: "osh", Plugin: "info", Params: "--osh info"},
		{ID: "s3", Account: "bob", Kind: "interactive"},
	} {
		sess.StartedAt = t0.Add(time.Duration(i) * time.Minute)
		if err := s.OpenSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.OpenSession(ctx, store.Session{ID: "s1", StartedAt: t0}); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate session: %v", err)
	}
	err := s.CloseSession(ctx, "s1", func(x *store.Session) {
		x.Status, x.EndedAt, x.ExitStatus, x.Allowed, x.BytesIn, x.BytesOut, x.SHA256, x.Size = "closed", t0.Add(time.Hour), 3, true, 10, 20, "ab", 99
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CloseSession(ctx, "nope", func(*store.Session) {}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("close unknown: %v", err)
	}
	all, _ := s.ListSessions(ctx, store.SessionFilter{})
	if len(all) != 3 || all[0].ID != "s3" || all[2].ID != "s1" {
		t.Fatalf("newest first: %+v", all)
	}
	s1 := all[2]
	if !s1.StartedAt.Equal(t0) || !s1.EndedAt.Equal(t0.Add(time.Hour)) || !s1.Allowed || s1.ExitStatus != 3 || s1.BytesOut != 20 ||
		s1.Host != "db1" || s1.User != "root" || s1.PortFrom != 5555 || s1.Status != "closed" || s1.Size != 99 {
		t.Fatalf("s1 %+v", s1)
	}
	yes := true
	for _, c := range []struct {
		f    store.SessionFilter
		want int
	}{
		{store.SessionFilter{Account: "alice"}, 2},
		{store.SessionFilter{AccountID: "ida", Kind: "osh"}, 1},
		{store.SessionFilter{Host: "10.0.0.1"}, 1},
		{store.SessionFilter{Host: "db1", User: "root"}, 1},
		{store.SessionFilter{ID: "s2"}, 1},
		{store.SessionFilter{After: t0.Add(time.Minute)}, 2},
		{store.SessionFilter{Before: t0.Add(time.Minute)}, 1},
		{store.SessionFilter{Allowed: &yes}, 1},
		{store.SessionFilter{Limit: 2}, 2},
	} {
		if got, err := s.ListSessions(ctx, c.f); err != nil || len(got) != c.want {
			t.Errorf("filter %+v: %d sessions (%v), want %d", c.f, len(got), err, c.want)
		}
	}
	open, err := s.MarkInterrupted(ctx, t0.Add(2*time.Hour))
	if err != nil || len(open) != 2 {
		t.Fatalf("interrupted %v %v", open, err)
	}
	if got, _ := s.ListSessions(ctx, store.SessionFilter{ID: "s3"}); got[0].Status != "interrupted" || got[0].EndedAt.IsZero() {
		t.Fatalf("s3 after MarkInterrupted: %+v", got[0])
	}
}

func testBastionSettings(t *testing.T, h Harness) {
	s := h.Fresh(t)
	other := h.Again(t, s)
	ctx := context.Background()
	if v, err := s.BastionSetting(ctx, "maintenance"); err != nil || v != "" {
		t.Fatal(v, err)
	}
	if err := s.SetBastionSetting(ctx, "maintenance", "upgrade", "admin"); err != nil {
		t.Fatal(err)
	}
	if v, _ := other.BastionSetting(ctx, "maintenance"); v != "upgrade" {
		t.Fatalf("the other node sees %q", v)
	}
	_ = other.SetBastionSetting(ctx, "maintenance", "again", "admin")
	_ = other.SetBastionSetting(ctx, "maintenance", "", "admin")
	if v, _ := s.BastionSetting(ctx, "maintenance"); v != "" {
		t.Fatalf("after removal %q", v)
	}
}

func testMFACredentialsRoundTrip(t *testing.T, h Harness) {
	s := h.Fresh(t)
	ctx := withAccounts(t, s, "alice", "bob")
	c, err := s.GetMFA(ctx, "alice")
	if err != nil || c.PasswordHash != "" || c.TOTPSet || c.ScratchLeft != 0 || c.Account != "alice" {
		t.Fatalf("empty factors: %+v %v", c, err)
	}
	changed := time.Date(2023, 8, 2, 10, 0, 0, 0, time.UTC)
	if err := s.SetMFAPassword(ctx, "alice", "$argon2id$h1", changed, true); err != nil {
		t.Fatal(err)
	}
	err = s.SetMFATOTP(ctx, "alice", store.MFATOTP{Sealed: []byte("sealed"), Created: changed, ScratchHashes: []string{"h1", "h2", "h2"},
		LastStep: 42, HasLastStep: true, RateAttempts: 5, RateSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	c, _ = s.GetMFA(ctx, "alice")
	if c.PasswordHash != "$argon2id$h1" || !c.PasswordChanged.Equal(changed) || !c.PasswordTemporary ||
		!c.TOTPSet || string(c.TOTPSealed) != "sealed" || c.ScratchLeft != 2 || c.TOTPRateAttempts != 5 || c.TOTPRateSeconds != 60 ||
		!c.TOTPCreated.Equal(changed) {
		t.Fatalf("stored factors: %+v", c)
	}
	if step, ok, _ := s.LastTOTPStep(ctx, "alice"); !ok || step != 42 {
		t.Fatalf("seeded step %d %v", step, ok)
	}
	// A rehash only replaces the hash it was computed from.
	_ = s.RehashMFAPassword(ctx, "alice", "$argon2id$other", "$argon2id$h2")
	if c, _ = s.GetMFA(ctx, "alice"); c.PasswordHash != "$argon2id$h1" {
		t.Fatalf("rehash of a stale hash applied: %s", c.PasswordHash)
	}
	_ = s.RehashMFAPassword(ctx, "alice", "$argon2id$h1", "$argon2id$h2")
	if c, _ = s.GetMFA(ctx, "alice"); c.PasswordHash != "$argon2id$h2" || !c.PasswordChanged.Equal(changed) {
		t.Fatalf("rehash: %+v", c)
	}
	if c, _ = s.GetMFA(ctx, "bob"); c.PasswordHash != "" || c.TOTPSet {
		t.Fatalf("bob: %+v", c)
	}
	// A scratch-only import: a factor without a key.
	if err := s.SetMFATOTP(ctx, "bob", store.MFATOTP{ScratchHashes: []string{"x"}}); err != nil {
		t.Fatal(err)
	}
	if c, _ = s.GetMFA(ctx, "bob"); !c.TOTPSet || c.TOTPSealed != nil || c.ScratchLeft != 1 {
		t.Fatalf("scratch-only: %+v", c)
	}
	// Clearing TOTP removes the key, the scratch codes and the replay state.
	if had, err := s.ClearMFATOTP(ctx, "alice"); !had || err != nil {
		t.Fatal(had, err)
	}
	if had, _ := s.ClearMFATOTP(ctx, "alice"); had {
		t.Fatal("second clear reported a factor")
	}
	c, _ = s.GetMFA(ctx, "alice")
	if _, ok, _ := s.LastTOTPStep(ctx, "alice"); c.TOTPSet || c.ScratchLeft != 0 || ok {
		t.Fatalf("after clear: %+v step %v", c, ok)
	}
	if had, _ := s.ClearMFAPassword(ctx, "alice"); !had {
		t.Fatal("password clear")
	}
	if had, _ := s.ClearMFAPassword(ctx, "alice"); had {
		t.Fatal("second password clear")
	}
}

// The three atomic operations hold under concurrency: one winner per step, per scratch code,
// and no lost update of the limiter state.
func testMFAAtomicOperations(t *testing.T, h Harness) {
	s := h.Fresh(t)
	ctx := withAccounts(t, s, "alice")
	if err := s.SetMFATOTP(ctx, "alice", store.MFATOTP{ScratchHashes: []string{"code"}}); err != nil {
		t.Fatal(err)
	}
	var advanced, consumed atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if ok, err := s.AdvanceTOTPStep(ctx, "alice", 100); err != nil {
				t.Error(err)
			} else if ok {
				advanced.Add(1)
			}
			if ok, err := s.ConsumeScratchCode(ctx, "alice", "code"); err != nil {
				t.Error(err)
			} else if ok {
				consumed.Add(1)
			}
			err := s.UpdateMFALimit(ctx, "alice", "totp", func(st *store.MFALimitState) error {
				st.Failures++
				st.Tries = append(st.Tries, time.Unix(0, int64(st.Failures)))
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if advanced.Load() != 1 || consumed.Load() != 1 {
		t.Fatalf("advanced %d times, consumed %d times; want 1 and 1", advanced.Load(), consumed.Load())
	}
	if ok, _ := s.AdvanceTOTPStep(ctx, "alice", 99); ok {
		t.Fatal("an older step advanced")
	}
	if ok, _ := s.AdvanceTOTPStep(ctx, "alice", 101); !ok {
		t.Fatal("a newer step did not advance")
	}
	var got store.MFALimitState
	_ = s.UpdateMFALimit(ctx, "alice", "totp", func(st *store.MFALimitState) error { got = *st; return errors.New("read only") })
	if got.Failures != 16 || len(got.Tries) != 16 || got.Tries[15].UnixNano() != 16 {
		t.Fatalf("limiter state after 16 updates: %d failures, %d tries", got.Failures, len(got.Tries))
	}
	// The faillock state (failures, pending tries, the lock's time) survives a round trip.
	at := time.Unix(1_700_000_000, 123)
	_ = s.UpdateMFALimit(ctx, "alice", "password", func(st *store.MFALimitState) error {
		st.Fails, st.Pending, st.Locked, st.LockedAt = []time.Time{at, at.Add(time.Second)}, []time.Time{at.Add(2 * time.Second)}, true, at
		return nil
	})
	_ = s.UpdateMFALimit(ctx, "alice", "password", func(st *store.MFALimitState) error { got = *st; return errors.New("read only") })
	if len(got.Fails) != 2 || !got.Fails[1].Equal(at.Add(time.Second)) || len(got.Pending) != 1 || !got.Pending[0].Equal(at.Add(2*time.Second)) || !got.Locked || !got.LockedAt.Equal(at) {
		t.Fatalf("faillock state after a round trip: %+v", got)
	}
	_ = s.UpdateMFALimit(ctx, "alice", "password", func(st *store.MFALimitState) error { *st = store.MFALimitState{}; return nil })
	_ = s.UpdateMFALimit(ctx, "alice", "password", func(st *store.MFALimitState) error { got = *st; return nil })
	if !got.LockedAt.IsZero() || got.Locked || len(got.Fails) != 0 {
		t.Fatalf("a cleared state: %+v", got)
	}
	// A failing fn saves nothing; Reset forgets everything.
	_ = s.UpdateMFALimit(ctx, "alice", "totp", func(st *store.MFALimitState) error { st.Locked = true; return errors.New("no") })
	_ = s.UpdateMFALimit(ctx, "alice", "totp", func(st *store.MFALimitState) error { got = *st; return nil })
	if got.Locked {
		t.Fatal("a failed update was saved")
	}
	_ = s.UpdateMFALimit(ctx, "alice", "password", func(st *store.MFALimitState) error { st.Locked = true; return nil })
	if err := s.ResetMFALimits(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	_ = s.UpdateMFALimit(ctx, "alice", "totp", func(st *store.MFALimitState) error { got = *st; return nil })
	if got.Failures != 0 || len(got.Tries) != 0 {
		t.Fatalf("after reset: %+v", got)
	}
	_ = s.UpdateMFALimit(ctx, "alice", "password", func(st *store.MFALimitState) error { got = *st; return nil })
	if got.Locked {
		t.Fatal("a lockout survived the reset")
	}
}

func testMFASecretCreatedOnce(t *testing.T, h Harness) {
	s := h.Fresh(t)
	other := h.Again(t, s)
	ctx := context.Background()
	var wg sync.WaitGroup
	vals := make([]string, 8)
	for i := range vals {
		wg.Go(func() {
			st := s
			if i%2 == 1 {
				st = other
			}
			v, err := st.MFASecret(ctx, "scratch-key", func() ([]byte, error) { return []byte{byte('a' + i)}, nil })
			if err != nil {
				t.Error(err)
			}
			vals[i] = string(v)
		})
	}
	wg.Wait()
	for _, v := range vals {
		if v != vals[0] || v == "" {
			t.Fatalf("callers saw different secrets: %q", vals)
		}
	}
	if _, err := s.MFASecret(ctx, "other", func() ([]byte, error) { return nil, errors.New("no randomness") }); err == nil {
		t.Fatal("a failing create stored something")
	}
}

// testTwoHandlesRace is the cluster property: two nodes (two handles on one database) race the
// same TOTP step, the same scratch code and the same lockout counter, many times over; each
// time exactly one login wins, and no failure is lost.
func testTwoHandlesRace(t *testing.T, h Harness) {
	a := h.Fresh(t)
	b := h.Again(t, a)
	ctx := withAccounts(t, a, "alice")
	const rounds = 100
	codes := make([]string, rounds)
	for i := range codes {
		codes[i] = fmt.Sprintf("code%d", i)
	}
	if err := a.SetMFATOTP(ctx, "alice", store.MFATOTP{Sealed: []byte("k"), ScratchHashes: codes}); err != nil {
		t.Fatal(err)
	}
	for i := range rounds {
		var steps, scratch atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, st := range []store.Store{a, b} {
			wg.Go(func() {
				<-start
				if ok, err := st.AdvanceTOTPStep(ctx, "alice", int64(1000+i)); err != nil {
					t.Error(err)
				} else if ok {
					steps.Add(1)
				}
				if ok, err := st.ConsumeScratchCode(ctx, "alice", codes[i]); err != nil {
					t.Error(err)
				} else if ok {
					scratch.Add(1)
				}
				if err := st.UpdateMFALimit(ctx, "alice", "totp", func(s *store.MFALimitState) error { s.Failures++; return nil }); err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		if steps.Load() != 1 || scratch.Load() != 1 {
			t.Fatalf("round %d: the step was accepted %d times and the scratch code %d times; want 1 and 1", i, steps.Load(), scratch.Load())
		}
	}
	var got store.MFALimitState
	_ = b.UpdateMFALimit(ctx, "alice", "totp", func(s *store.MFALimitState) error { got = *s; return nil })
	if got.Failures != 2*rounds {
		t.Fatalf("%d failures counted, want %d", got.Failures, 2*rounds)
	}
	if c, _ := b.GetMFA(ctx, "alice"); c.ScratchLeft != 0 {
		t.Fatalf("%d scratch codes left", c.ScratchLeft)
	}
}

func testApprovalCompareAndSet(t *testing.T, h Harness) {
	s := h.Fresh(t)
	ctx := context.Background()
	now := time.Now()
	req := store.ApprovalRequest{ID: "r1", Account: "alice", SourceIP: "192.0.2.7", Target: "root@db1:22", Command: "ls", Bastion: "b1", Label: "K7QX2M",
		Created: now, Expires: now.Add(time.Minute), FourEyes: true, Approvers: []string{"bob", "carol"}}
	if err := s.CreateApproval(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateApproval(ctx, req); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	got, err := s.GetApproval(ctx, "r1")
	if err != nil || got.State != "pending" || !got.FourEyes || len(got.Approvers) != 2 || got.Label != "K7QX2M" || !got.Expires.Equal(req.Expires) ||
		got.Command != "ls" || got.Bastion != "b1" {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.GetApproval(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, _, err := s.FinishApproval(ctx, "nope", "approved", "bob", "slack", "", now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("finish unknown: %v", err)
	}
	// Twenty decisions race: exactly one changes the row, and the row says who.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			state := []string{"approved", "denied"}[i%2]
			_, changed, err := s.FinishApproval(ctx, "r1", state, fmt.Sprintf("u%d", i), "link", "", now)
			if err != nil {
				t.Error(err)
			}
			if changed {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	got, _ = s.GetApproval(ctx, "r1")
	if wins.Load() != 1 || got.State == "pending" || got.DecidedBy == "" || got.DecidedVia != "link" {
		t.Fatalf("%d winners, row %+v", wins.Load(), got)
	}
	// Expiry: approve after the deadline does nothing; expiring does.
	req.ID, req.Expires = "r2", now.Add(time.Second)
	if err := s.CreateApproval(ctx, req); err != nil {
		t.Fatal(err)
	}
	if r, changed, err := s.FinishApproval(ctx, "r2", "approved", "bob", "slack", "T1/U1", now.Add(2*time.Second)); err != nil || changed || r.State != "pending" {
		t.Fatalf("late approval: %+v %v %v", r, changed, err)
	}
	if r, changed, err := s.FinishApproval(ctx, "r2", "expired", "", "timeout", "", now.Add(2*time.Second)); err != nil || !changed || r.State != "expired" {
		t.Fatalf("expire: %+v %v %v", r, changed, err)
	}
	if _, _, err := s.FinishApproval(ctx, "r2", "pending", "", "", "", now); err == nil {
		t.Fatal("back to pending accepted")
	}
}

// A decision taken through one node is what the login waiting on another node reads.
func testApprovalOtherHandle(t *testing.T, h Harness) {
	a := h.Fresh(t)
	b := h.Again(t, a)
	ctx := context.Background()
	now := time.Now()
	if err := a.CreateApproval(ctx, store.ApprovalRequest{ID: "r", Account: "alice", Label: "L", Created: now, Expires: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, changed, err := b.FinishApproval(ctx, "r", "approved", "bob", "link", "", now); err != nil || !changed {
		t.Fatal(changed, err)
	}
	if r, _ := a.GetApproval(ctx, "r"); r.State != "approved" || r.DecidedBy != "bob" || !r.DecidedAt.Equal(now) {
		t.Fatalf("the waiting node reads %+v", r)
	}
	if _, changed, _ := a.FinishApproval(ctx, "r", "denied", "carol", "link", "", now); changed {
		t.Fatal("a second decision through the other node changed the row")
	}
	if fresh, _ := a.RememberNonce(ctx, "n", now.Add(time.Minute)); !fresh {
		t.Fatal("first nonce")
	}
	if fresh, _ := b.RememberNonce(ctx, "n", now.Add(time.Minute)); fresh {
		t.Fatal("a nonce replayed on the other node was accepted")
	}
}

func testApprovalNoncesAndSettings(t *testing.T, h Harness) {
	s := h.Fresh(t)
	ctx := withAccounts(t, s, "alice", "bob")
	until := time.Now().Add(time.Minute)
	if fresh, err := s.RememberNonce(ctx, "slack:v0=abc", until); err != nil || !fresh {
		t.Fatalf("first: %v %v", fresh, err)
	}
	if fresh, err := s.RememberNonce(ctx, "slack:v0=abc", until); err != nil || fresh {
		t.Fatalf("replay: %v %v", fresh, err)
	}
	// A nonce past its time is forgotten.
	if fresh, _ := s.RememberNonce(ctx, "old", time.Now().Add(-time.Second)); !fresh {
		t.Fatal("old nonce")
	}
	if fresh, _ := s.RememberNonce(ctx, "old", until); !fresh {
		t.Fatal("an expired nonce must not block")
	}
	if err := s.UpdateAccount(ctx, "bob", func(a *store.Account) error {
		a.Settings = map[string]string{"slack_user_id": "T1/U2"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.AccountsWithSetting(ctx, "slack_user_id", "T1/U2"); err != nil || len(got) != 1 || got[0] != "bob" {
		t.Fatalf("by setting: %v %v", got, err)
	}
	if got, _ := s.AccountsWithSetting(ctx, "slack_user_id", "U2"); len(got) != 0 {
		t.Fatalf("partial value matched: %v", got)
	}
}

// testSyncedAccounts: the managed mark is made with the account (all or nothing), goes with it
// when it is deleted (a namesake made later is not managed), and the sync's freeze is its own.
func testSyncedAccounts(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Fresh(t)
	now := time.Now().UTC()
	key := store.IngressKey{Line: "ssh-ed25519 AAAA", Type: "ssh-ed25519", Fingerprint: "SHA256:x"}
	if err := s.CreateSyncedAccount(ctx, "s3", store.Account{Name: "alice", CreatedAt: now}, []store.IngressKey{key}); err != nil {
		t.Fatal(err)
	}
	// A failed create leaves neither the account nor the mark.
	if err := s.CreateSyncedAccount(ctx, "s3", store.Account{Name: "bob", CreatedAt: now}, []store.IngressKey{key, key}); err == nil {
		t.Fatal("duplicate key accepted")
	}
	if _, err := s.GetAccount(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob: %v", err)
	}
	m, err := s.SyncedAccounts(ctx)
	if err != nil || len(m) != 1 || m[0].Account != "alice" || m[0].Source != "s3" || m[0].FrozenBySync {
		t.Fatalf("synced %+v %v", m, err)
	}
	if ok, _ := s.SyncManages(ctx, "alice", "other"); ok {
		t.Fatal("another source manages alice")
	}
	if _, err := s.SyncFreeze(ctx, "alice", "other", true, "r"); !errors.Is(err, store.ErrNotManaged) {
		t.Fatalf("freeze by another source: %v", err)
	}
	if _, err := s.SyncFreeze(ctx, "alice", "s3", true, "no key left"); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.SyncedAccounts(ctx); !m[0].FrozenBySync {
		t.Fatal("not marked frozen by the sync")
	}
	// An administrator unfreezes and freezes again with their reason: not the sync's any more.
	s.UpdateAccount(ctx, "alice", func(a *store.Account) error { a.Frozen, a.FrozenReason = true, "incident"; return nil })
	if m, _ := s.SyncedAccounts(ctx); m[0].FrozenBySync {
		t.Fatal("an administrator's freeze counted as the sync's")
	}
	if _, err := s.SyncFreeze(ctx, "alice", "s3", false, ""); !errors.Is(err, store.ErrNotManaged) {
		t.Fatalf("the sync lifted an administrator's freeze: %v", err)
	}
	// Deleted, then made again by hand: the new account is not managed.
	if err := s.DeleteAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(ctx, store.Account{Name: "alice", CreatedAt: now}, nil); err != nil {
		t.Fatal(err)
	}
	if m, _ := s.SyncedAccounts(ctx); len(m) != 0 {
		t.Fatalf("the mark survived the account: %+v", m)
	}
}

// testListACLKind: one query for every entry of a kind; with an address, only the single IPv4
// addresses other than it are left out (they cannot match it): prefixes, IPv6 and names stay.
func testListACLKind(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.Fresh(t)
	hosts := []string{"10.0.0.5", "10.0.0.6", "10.0.0.0/24", "web.example", "::1", "10.0.0.55"}
	for i, host := range hosts {
		owner := fmt.Sprintf("g%d", i%2)
		if _, err := s.AddACL(ctx, store.ACLEntry{Kind: store.ACLGroup, Owner: owner, Host: host, AddedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddACL(ctx, store.ACLEntry{Kind: store.ACLPersonal, Owner: "a", Host: "10.0.0.5", AddedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	hostsOf := func(es []store.ACLEntry) string {
		var out []string
		for _, e := range es {
			if e.Kind != store.ACLGroup {
				t.Fatalf("entry of kind %q listed", e.Kind)
			}
			out = append(out, e.Host)
		}
		return strings.Join(out, ",")
	}
	all, err := s.ListACLKind(ctx, store.ACLGroup, "")
	if err != nil || hostsOf(all) != strings.Join(hosts, ",") {
		t.Fatalf("every entry: %s %v", hostsOf(all), err)
	}
	some, err := s.ListACLKind(ctx, store.ACLGroup, "10.0.0.5")
	if want := "10.0.0.5,10.0.0.0/24,web.example,::1"; err != nil || hostsOf(some) != want {
		t.Fatalf("for 10.0.0.5: %s %v, want %s", hostsOf(some), err, want)
	}
}

func testEgressPasswords(t *testing.T, h Harness) {
	s := h.Fresh(t)
	ctx := withAccounts(t, s, "alice", "bob")
	now := time.Now().UTC().Truncate(time.Second)
	for i := 0; i < store.MaxEgressPasswords+3; i++ {
		if _, err := s.AddEgressPassword(ctx, store.EgressPassword{OwnerKind: "account", Owner: "alice", Sealed: []byte{byte(i)}, CreatedAt: now, CreatedBy: "admin"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddEgressPassword(ctx, store.EgressPassword{OwnerKind: "group", Owner: "alice", Sealed: []byte("g"), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListEgressPasswords(ctx, "account", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != store.MaxEgressPasswords || got[0].Sealed[0] != byte(store.MaxEgressPasswords+2) || got[len(got)-1].Sealed[0] != 3 {
		t.Fatalf("%d passwords kept, newest %v, oldest %v", len(got), got[0].Sealed, got[len(got)-1].Sealed)
	}
	if !got[0].CreatedAt.Equal(now) || got[0].CreatedBy != "admin" || got[0].Owner != "alice" || got[0].OwnerKind != "account" {
		t.Fatalf("round trip: %+v", got[0])
	}
	if g, _ := s.ListEgressPasswords(ctx, "group", "alice"); len(g) != 1 {
		t.Fatalf("the group of the same name shares the account's passwords: %d", len(g))
	}
	if b, _ := s.ListEgressPasswords(ctx, "account", "bob"); len(b) != 0 {
		t.Fatalf("bob has %d passwords", len(b))
	}
	// They go with their account: a new account of the same name has none.
	if err := s.DeleteAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	withAccounts(t, s, "alice")
	if a, _ := s.ListEgressPasswords(ctx, "account", "alice"); len(a) != 0 {
		t.Fatalf("a recreated account inherited %d passwords", len(a))
	}
}
