package storetest

import (
	"context"
	"testing"
	"time"

	"gatehouse/internal/store"
)

func testPendingApprovals(t *testing.T, h Harness) {
	s := h.Fresh(t)
	p, ok := s.(store.PendingApprovals)
	if !ok {
		t.Fatal("the store does not list pending approvals")
	}
	ctx := context.Background()
	now := time.Now()
	for i, id := range []string{"p1", "p2", "gone", "done"} {
		exp := now.Add(time.Minute)
		if id == "gone" {
			exp = now.Add(-time.Second)
		}
		if err := s.CreateApproval(ctx, store.ApprovalRequest{ID: id, Account: "alice", Created: now.Add(time.Duration(i) * time.Millisecond),
			Expires: exp, Approvers: []string{"bob"}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.FinishApproval(ctx, "done", "denied", "bob", "web", "", now); err != nil {
		t.Fatal(err)
	}
	got, err := p.PendingApprovals(ctx, now, 10)
	if err != nil || len(got) != 2 || got[0].ID != "p1" || got[1].ID != "p2" || got[0].Approvers[0] != "bob" {
		t.Fatalf("pending: %+v %v", got, err)
	}
	if got, _ := p.PendingApprovals(ctx, now, 1); len(got) != 1 {
		t.Fatalf("limit: %d", len(got))
	}
}
