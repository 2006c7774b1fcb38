package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxStmts bounds the statement cache. The store's query texts are a fixed set (lists are
// passed as one parameter, a handful of WHERE variants are built in code), ~150 in all; past
// the bound a query runs unprepared, as it did before the cache.
const maxStmts = 512

// stmtCache keeps one prepared statement per query text. Preparing the same queries at every
// call was ~23% of the CPU of opening idle sessions (issue 14): database/sql prepares a cached
// *sql.Stmt once on each pooled connection and reuses it there, and modernc's SQLite keeps the
// compiled statement with it.
type stmtCache struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
	// later are the queries being prepared in the background (prepareLater); closed: the store
	// is closing, nothing more is cached.
	later  map[string]bool
	closed bool
}

// get returns the statement for q, prepared at its first use; nil when the cache is full or q
// cannot be prepared (the caller then runs q as is, which reports q's error).
func (c *stmtCache) get(ctx context.Context, q string) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.m[q]
	full := len(c.m) >= maxStmts
	c.mu.Unlock()
	if ok || full {
		return st
	}
	// Prepared outside the lock (it takes a connection); two callers racing keep the first.
	st, err := c.db.PrepareContext(ctx, q) // the caller's deadline holds while waiting for a connection
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[q]; ok {
		_ = st.Close() // a duplicate of old
		return old
	}
	if len(c.m) >= maxStmts || c.closed {
		_ = st.Close()
		return nil
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[q] = st
	return st
}

// cached returns q's statement if it is prepared already, else nil.
func (c *stmtCache) cached(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[q]
}

// prepareLater prepares q on the pool in the background. A transaction must not prepare
// through the pool itself: preparing takes a second connection, and with every pooled
// connection held by transactions waiting for the write lock that this one holds, it would
// wait for them while they wait for it (SQLITE_BUSY after busy_timeout; seen with 16
// goroutines on 8 connections in MFAAtomicOperations).
func (c *stmtCache) prepareLater(q string) {
	c.mu.Lock()
	if c.later[q] || c.closed || len(c.m) >= maxStmts {
		c.mu.Unlock()
		return
	}
	if c.later == nil {
		c.later = map[string]bool{}
	}
	c.later[q] = true
	c.mu.Unlock()
	go func() {
		c.get(context.Background(), q)
		c.mu.Lock()
		delete(c.later, q)
		c.mu.Unlock()
	}()
}

// close closes every cached statement (before the database).
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for q, st := range c.m {
		_ = st.Close()
		delete(c.m, q)
	}
}

// size is how many statements are cached.
func (c *stmtCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// cached runs queries through the cache, on the pool (tx nil) or in tx (the statement is bound
// to the transaction's connection, prepared there once).
type cached struct {
	c  *stmtCache
	tx *sql.Tx
}

func (k cached) stmt(ctx context.Context, q string) *sql.Stmt {
	if k.tx == nil {
		return k.c.get(ctx, q)
	}
	st := k.c.cached(q)
	if st == nil {
		// Run as is this time; prepared on the pool, outside this transaction, for the next.
		k.c.prepareLater(q)
		return nil
	}
	return k.tx.StmtContext(ctx, st)
}

// QueryContext is sql.DB's and sql.Tx's QueryContext through the cache.
func (k cached) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := k.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	if k.tx != nil {
		return k.tx.QueryContext(ctx, q, args...)
	}
	return k.c.db.QueryContext(ctx, q, args...)
}

// QueryRowContext is sql.DB's and sql.Tx's QueryRowContext through the cache.
func (k cached) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := k.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	if k.tx != nil {
		return k.tx.QueryRowContext(ctx, q, args...)
	}
	return k.c.db.QueryRowContext(ctx, q, args...)
}

// ExecContext is sql.DB's and sql.Tx's ExecContext through the cache.
func (k cached) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := k.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	if k.tx != nil {
		return k.tx.ExecContext(ctx, q, args...)
	}
	return k.c.db.ExecContext(ctx, q, args...)
}

// pool runs queries on the pool through the cache.
func (s *Store) pool() cached { return cached{c: &s.stmts} }

// in runs queries in tx through the cache.
func (s *Store) in(tx *sql.Tx) cached { return cached{c: &s.stmts, tx: tx} }
