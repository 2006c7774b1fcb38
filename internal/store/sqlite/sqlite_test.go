package sqlite

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storetest"
)

func open(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestContract runs the store contract suite (internal/store/storetest) against SQLite; a
// second handle on the same file plays another node.
func TestContract(t *testing.T) {
	var mu sync.Mutex
	paths := map[store.Store]string{}
	storetest.Run(t, storetest.Harness{
		Fresh: func(t *testing.T) store.Store {
			path := filepath.Join(t.TempDir(), "g.db")
			s := open(t, path)
			mu.Lock()
			paths[s] = path
			mu.Unlock()
			return s
		},
		Again: func(t *testing.T, s store.Store) store.Store {
			mu.Lock()
			path := paths[s]
			mu.Unlock()
			return open(t, path)
		},
	})
}

// TestReopenKeepsEverything: migrations run again on an existing file, idempotently.
func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "g.db")
	s := open(t, path)
	if err := s.CreateAccount(ctx, store.Account{Name: "alice", CreatedAt: time.Now(), Grants: []string{"auditor"}}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = open(t, path)
	if got, err := s.GetAccount(ctx, "alice"); err != nil || !got.HasGrant("auditor") {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
}
