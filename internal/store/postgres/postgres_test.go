package postgres_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres"
	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/store/storetest"
)

func open(t testing.TB, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestContract runs the store contract suite against a real PostgreSQL, each test on a
// database of its own.
func TestContract(t *testing.T) {
	var mu sync.Mutex
	dsns := map[store.Store]string{}
	storetest.Run(t, storetest.Harness{
		Fresh: func(t *testing.T) store.Store {
			dsn := pgtest.Fresh(t)
			s := open(t, dsn)
			mu.Lock()
			dsns[s] = dsn
			mu.Unlock()
			return s
		},
		Again: func(t *testing.T, s store.Store) store.Store {
			mu.Lock()
			dsn := dsns[s]
			mu.Unlock()
			return open(t, dsn)
		},
	})
}

// TestNodesMigrateTogether: nodes starting at the same moment on an empty database agree on
// one schema (the advisory lock), and a later start finds nothing to do.
func TestNodesMigrateTogether(t *testing.T) {
	dsn := pgtest.Fresh(t)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				t.Error(err)
				return
			}
			s.Close()
		})
	}
	wg.Wait()
	s := open(t, dsn)
	var n, max int
	if err := s.Pool().QueryRow(context.Background(), `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != postgres.SchemaVersion() || max != postgres.SchemaVersion() {
		t.Fatalf("%d migrations recorded, last %d; want %d", n, max, postgres.SchemaVersion())
	}
}

func TestBadDSNDoesNotEchoPassword(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://u:s3cret@[::1:5432/x")
	if err == nil {
		t.Fatal("a bad address opened")
	}
	if got := err.Error(); strings.Contains(got, "s3cret") {
		t.Fatalf("the error shows the password: %s", got)
	}
}

// TestMarkInterruptedOnlyThisNode: a node restarting closes the sessions it left open, not the
// ones running on the other nodes; each row says which node ran it.
func TestMarkInterruptedOnlyThisNode(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Fresh(t)
	a, err := postgres.OpenNode(ctx, dsn, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := postgres.OpenNode(ctx, dsn, "node-b")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Now()
	if err := a.OpenSession(ctx, store.Session{ID: "on-a", Account: "x", Kind: "ssh", StartedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := b.OpenSession(ctx, store.Session{ID: "on-b", Account: "x", Kind: "ssh", StartedAt: now}); err != nil {
		t.Fatal(err)
	}
	got, err := a.MarkInterrupted(ctx, now)
	if err != nil || len(got) != 1 || got[0].ID != "on-a" {
		t.Fatalf("node a interrupted %+v %v", got, err)
	}
	all, _ := b.ListSessions(ctx, store.SessionFilter{})
	status := map[string]string{}
	for _, s := range all {
		status[s.ID] = s.Node + "/" + s.Status
	}
	if status["on-a"] != "node-a/interrupted" || status["on-b"] != "node-b/open" {
		t.Fatalf("sessions after node a restarted: %v", status)
	}
}

func TestIsDSN(t *testing.T) {
	for in, want := range map[string]bool{
		"postgres://u:p@h:5432/db": true, "postgresql://h/db": true, "": false, "data": false,
		"/var/lib/gatehouse": false, "Postgres://h/db": false, "postgres:/h": false, "sqlite://x": false,
	} {
		if got := postgres.IsDSN(in); got != want {
			t.Errorf("IsDSN(%q) = %v, want %v", in, got, want)
		}
	}
}

// TestNodeNameClaimed: a second node under a name already connected is refused (it would mark
// the first one's live sessions interrupted); the name is free again once the first closes.
func TestNodeNameClaimed(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Fresh(t)
	a, err := postgres.OpenNode(ctx, dsn, "bastion")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.OpenNode(ctx, dsn, "bastion"); err == nil || !strings.Contains(err.Error(), "another node named") {
		t.Fatalf("a second node with the same name: %v", err)
	}
	other, err := postgres.OpenNode(ctx, dsn, "bastion-2")
	if err != nil {
		t.Fatal(err)
	}
	other.Close()
	a.Close()
	again, err := postgres.OpenNode(ctx, dsn, "bastion")
	if err != nil {
		t.Fatalf("the name after the first node closed: %v", err)
	}
	again.Close()
}
