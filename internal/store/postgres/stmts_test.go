package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres/pgtest"
)

// TestStatementsPreparedOnce: PostgreSQL's store needs no statement cache of its own (issue 14:
// SQLite's re-preparing was ~23% of the CPU of opening idle sessions): pgx prepares each query
// text once per connection and keeps it (QueryExecModeCacheStatement, its default, which the
// store keeps). On one connection, the account lookup of a login run twice leaves one prepared
// statement in the session, and the second run prepares nothing.
func TestStatementsPreparedOnce(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.Fresh(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cc := s.pool.Config().ConnConfig
	if cc.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement || cc.StatementCacheCapacity < 128 {
		t.Fatalf("pgx's statement cache is off: mode %v, capacity %d", cc.DefaultQueryExecMode, cc.StatementCacheCapacity)
	}
	if err := s.CreateAccount(ctx, store.Account{Name: "alice", CreatedAt: time.Unix(1_800_000_000, 0), MaxInactiveDays: -1}, nil); err != nil {
		t.Fatal(err)
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	const q = `SELECT name FROM accounts WHERE name=$1`
	prepared := func() int {
		t.Helper()
		var n int
		// Run in the simple protocol, so that this count is not itself prepared.
		if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements WHERE statement = '`+q+`'`, pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for i := range 2 {
		var name string
		if err := c.QueryRow(ctx, q, "alice").Scan(&name); err != nil || name != "alice" {
			t.Fatalf("run %d: %q %v", i, name, err)
		}
		if n := prepared(); n != 1 {
			t.Fatalf("after run %d: %d prepared statements for the query, want 1", i, n)
		}
	}
}
