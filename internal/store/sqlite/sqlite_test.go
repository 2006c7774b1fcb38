package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestAccountsRoundTripAndReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "g.db")
	s := open(t, path)
	now := time.Now().UTC().Truncate(time.Second)
	a := store.Account{Name: "alice", Comment: "c", CreatedAt: now, ExpiresAt: now.Add(time.Hour), OshOnly: true,
		MaxInactiveDays: -1, Grants: []string{"auditor"}, Settings: map[string]string{"idle_ignore": "yes"}}
	key := store.IngressKey{Line: "ssh-ed25519 AAAA", Type: "ssh-ed25519", Fingerprint: "SHA256:x"}
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
	s.Close()
	s = open(t, path) // migrations run again, idempotently
	got, err := s.GetAccount(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !got.OshOnly || got.ExpiresAt != a.ExpiresAt || !got.HasGrant("auditor") || got.Settings["idle_ignore"] != "yes" {
		t.Fatalf("got %+v", got)
	}
	if _, err := s.FindIngressKey(ctx, "alice", "SHA256:x"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAccount(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := s.ListIngressKeys(ctx, "alice"); len(keys) != 0 {
		t.Fatal("keys of a deleted account remain")
	}
}

func TestConcurrentUpdatesDoNotLoseWrites(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "g.db"))
	if err := s.CreateAccount(ctx, store.Account{Name: "a", CreatedAt: time.Now()}, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			err := s.UpdateAccount(ctx, "a", func(a *store.Account) error {
				a.Grants = append(a.Grants, fmt.Sprintf("cmd%d", i))
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	a, _ := s.GetAccount(ctx, "a")
	if len(a.Grants) != 20 {
		t.Fatalf("lost updates: %d grants", len(a.Grants))
	}
}

func TestGroupsACLAndKnownHosts(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "g.db"))
	for _, n := range []string{"o", "m"} {
		s.CreateAccount(ctx, store.Account{Name: n, CreatedAt: time.Now()}, nil)
	}
	g := store.Group{Name: "web", CreatedAt: time.Now(), IdleLockTimeout: -1, IdleKillTimeout: -1,
		Roles: map[string][]string{store.RoleOwner: {"o"}, store.RoleMember: {"o"}}}
	if err := s.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	if changed, _ := s.SetRole(ctx, "web", store.RoleMember, "m", true); !changed {
		t.Fatal("add member reported no change")
	}
	if changed, _ := s.SetRole(ctx, "web", store.RoleMember, "m", true); changed {
		t.Fatal("second add member reported a change")
	}
	gs, _ := s.GroupsOf(ctx, "m")
	if len(gs) != 1 || !gs[0].Has(store.RoleMember, "m") {
		t.Fatalf("GroupsOf: %+v", gs)
	}
	e := store.ACLEntry{Kind: store.ACLGroup, Owner: "web", Host: "10.0.0.0/24", Port: 22, AddedAt: time.Now()}
	if _, err := s.AddACL(ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddACL(ctx, e); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate ACL: %v", err)
	}
	s.UpdateGroup(ctx, "web", func(g *store.Group) error { g.MFARequired = "any"; return nil })
	if g, _ := s.GetGroup(ctx, "web"); g.MFARequired != "any" || len(g.Roles[store.RoleOwner]) != 1 {
		t.Fatalf("UpdateGroup: %+v", g)
	}
	if err := s.DeleteGroup(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.ListACL(ctx, store.ACLGroup, "web", ""); len(l) != 0 {
		t.Fatal("ACL of a deleted group remains")
	}
	s.AddKnownHost(ctx, store.KnownHost{Account: "m", HostPort: "h:22", Key: []byte{1, 2}, AddedAt: time.Now()})
	s.AddKnownHost(ctx, store.KnownHost{Account: "o", HostPort: "h:22", Key: []byte{1, 2}, AddedAt: time.Now()})
	if k, _ := s.KnownHostKeys(ctx, "m", "h:22"); len(k) != 1 {
		t.Fatal("known host not stored")
	}
	if n, _ := s.ForgetHost(ctx, "", "h:22"); n != 2 {
		t.Fatalf("ForgetHost for everyone removed %d", n)
	}
}

func TestDeleteAccountLeavesNothingBehind(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "g.db"))
	s.CreateAccount(ctx, store.Account{Name: "a", CreatedAt: time.Now()}, nil)
	s.CreateAccount(ctx, store.Account{Name: "o", CreatedAt: time.Now()}, nil)
	s.CreateGroup(ctx, store.Group{Name: "g", CreatedAt: time.Now(), Roles: map[string][]string{store.RoleOwner: {"o"}}})
	s.AddACL(ctx, store.ACLEntry{Kind: store.ACLPersonal, Owner: "a", Host: "10.0.0.1", AddedAt: time.Now()})
	s.AddACL(ctx, store.ACLEntry{Kind: store.ACLGuest, Owner: "g", Account: "a", Host: "10.0.0.2", AddedAt: time.Now()})
	s.AddKnownHost(ctx, store.KnownHost{Account: "a", HostPort: "h", Key: []byte{1}, AddedAt: time.Now()})
	if err := s.DeleteAccount(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	s.CreateAccount(ctx, store.Account{Name: "a", CreatedAt: time.Now()}, nil)
	p, _ := s.ListACL(ctx, store.ACLPersonal, "a", "")
	g, _ := s.ListACL(ctx, store.ACLGuest, "g", "a")
	k, _ := s.KnownHostKeys(ctx, "a", "h")
	if len(p)+len(g)+len(k) != 0 {
		t.Fatalf("a new account inherited: %d personal, %d guest, %d host keys", len(p), len(g), len(k))
	}
}
