package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gatehouse/internal/store/postgres/pgtest"
)

// The figures behind keeping perSourceMaxStartups per node (docs/cluster.md, "Per-source
// startups"): what each accepted connection would cost the shared database if the count of a
// source's unauthenticated connections were kept there as leases, against the one read the
// shared penalties already cost. Run:
//
//	source scripts/postgres.sh
//	go test ./internal/store/postgres -run XXX -bench 'Startup|PenaltyRead' -benchtime 2000x
//
// BenchmarkPenaltyRead: the read a new connection costs today on PostgreSQL (SourcePenalty).
// BenchmarkStartupLease: a lease per connection: taken at accept (insert the row, count the
// source's live rows across nodes, in one statement), renewed once while pending, dropped at
// the end of the handshake: three round trips, two of them writes, from unauthenticated
// clients, on the database every node's logins need.
func BenchmarkPenaltyRead(b *testing.B) {
	s := open(b, pgtest.Fresh(b))
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := s.SourcePenalty(ctx, fmt.Sprintf("192.0.2.%d", i%200)); err != nil {
			b.Fatal(err)
		}
	}
	reportPerOp(b)
}

func BenchmarkStartupLease(b *testing.B) {
	s := open(b, pgtest.Fresh(b))
	ctx := context.Background()
	pool := s.Pool()
	if _, err := pool.Exec(ctx, `CREATE TABLE startup_leases (id BIGSERIAL PRIMARY KEY, source TEXT NOT NULL,
		node TEXT NOT NULL, expires_at BIGINT NOT NULL); CREATE INDEX ON startup_leases(source, expires_at)`); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		src := fmt.Sprintf("192.0.2.%d", i%200)
		now := time.Now().UnixNano()
		var id, n int64
		if err := pool.QueryRow(ctx, `WITH l AS (INSERT INTO startup_leases(source, node, expires_at) VALUES ($1, 'n1', $2) RETURNING id)
			SELECT (SELECT id FROM l), count(*) FROM startup_leases WHERE source=$1 AND expires_at > $3`, src, now+int64(30*time.Second), now).Scan(&id, &n); err != nil {
			b.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `UPDATE startup_leases SET expires_at=$2 WHERE id=$1`, id, now+int64(60*time.Second)); err != nil {
			b.Fatal(err)
		}
		if _, err := pool.Exec(ctx, `DELETE FROM startup_leases WHERE id=$1`, id); err != nil {
			b.Fatal(err)
		}
	}
	reportPerOp(b)
}

// reportPerOp adds how many accepts per second one serial accept loop could take at this cost.
func reportPerOp(b *testing.B) {
	if per := b.Elapsed() / time.Duration(b.N); per > 0 {
		b.ReportMetric(float64(time.Second/per), "accepts/s")
	}
}
