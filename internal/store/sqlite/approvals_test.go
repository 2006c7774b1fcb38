package sqlite

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/store"
)

func TestApprovalCompareAndSet(t *testing.T) {
	s, ctx := mfaStore(t)
	now := time.Now()
	req := store.ApprovalRequest{ID: "r1", Account: "alice", SourceIP: "192.0.2.7", Target: "root@db1:22", Label: "K7QX2M",
		Created: now, Expires: now.Add(time.Minute), FourEyes: true, Approvers: []string{"bob", "carol"}}
	if err := s.CreateApproval(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateApproval(ctx, req); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	got, err := s.GetApproval(ctx, "r1")
	if err != nil || got.State != "pending" || !got.FourEyes || len(got.Approvers) != 2 || got.Label != "K7QX2M" || !got.Expires.Equal(req.Expires) {
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

func TestApprovalNoncesAndSettings(t *testing.T) {
	s, ctx := mfaStore(t)
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
