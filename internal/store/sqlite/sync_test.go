package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// TestSyncedAccounts: the managed mark is made with the account (all or nothing), goes with it
// when it is deleted (a namesake made later is not managed), and the sync's freeze is its own.
func TestSyncedAccounts(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "g.db"))
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
	if _, err := s.SyncFreeze(ctx, "alice", "other", true, "r"); !errors.Is(err, ErrNotManaged) {
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
	if _, err := s.SyncFreeze(ctx, "alice", "s3", false, ""); !errors.Is(err, ErrNotManaged) {
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
