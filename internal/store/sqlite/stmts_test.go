package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// TestStmtCache: the store's queries are prepared once and reused (a login's reads add no
// statement the second time), the cache stays within maxStmts whatever the number of query
// texts (past it queries still run, unprepared), a query that cannot be prepared reports its
// error, concurrent first uses keep one statement, and Close closes them.
func TestStmtCache(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "g.db"))
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	if err := s.CreateAccount(ctx, store.Account{Name: "alice", CreatedAt: now, MaxInactiveDays: -1}, nil); err != nil {
		t.Fatal(err)
	}
	login := func() {
		t.Helper()
		if _, err := s.GetAccount(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchAccount(ctx, "alice", now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GroupsOf(ctx, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	login()
	n := s.stmts.size()
	if n == 0 {
		t.Fatal("nothing prepared")
	}
	login()
	if got := s.stmts.size(); got != n {
		t.Fatalf("a second login prepared %d more statements", got-n)
	}
	var wg sync.WaitGroup
	for i := range 8 { // first uses racing: one statement kept, every caller answered
		wg.Go(func() {
			var v int
			if err := s.pool().QueryRowContext(ctx, `SELECT ? + 1000000`, i).Scan(&v); err != nil || v != i+1_000_000 {
				t.Errorf("racer %d: %d %v", i, v, err)
			}
		})
	}
	wg.Wait()
	for i := range maxStmts + 20 {
		var v int
		if err := s.pool().QueryRowContext(ctx, fmt.Sprintf(`SELECT ? + %d`, i), 1).Scan(&v); err != nil || v != i+1 {
			t.Fatalf("query %d past the bound: %d %v", i, v, err)
		}
	}
	if got := s.stmts.size(); got != maxStmts {
		t.Fatalf("%d statements cached, want the bound %d", got, maxStmts)
	}
	if _, err := s.pool().ExecContext(ctx, `UPDATE no_such_table SET x=1`); err == nil {
		t.Fatal("a query on a missing table did not fail")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := s.stmts.size(); got != 0 {
		t.Fatalf("%d statements left open after Close", got)
	}
}
