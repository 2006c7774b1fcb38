package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// BenchmarkMFASourceTry: what the per-source MFA throttling in the store costs a try without a
// key on a single SQLite node: two transactions (the try counted at its start, its outcome at
// its end), beside the account's own two (UpdateMFALimit) and the argon2id check (~tens of ms).
//
//	go test ./internal/store/sqlite -run XXX -bench MFASourceTry
func BenchmarkMFASourceTry(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "g.db"))
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	for b.Loop() {
		for range 2 {
			if err := s.UpdateMFASource(ctx, "192.0.2.1", store.MFASourceRoom{}, func(st *store.MFASourceState) error {
				st.Tries = append(st.Tries[max(0, len(st.Tries)-2):], now)
				st.Seen = now
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkMFASourceNewInFullTable: what a new source costs when the per-source table is full
// (100,000 sources, the default cap): the count, the eviction of the least recently seen quiet
// source, the insert. Paid only by sources not yet in the table.
//
//	go test ./internal/store/sqlite -run XXX -bench MFASourceNewInFullTable -benchtime 200x
func BenchmarkMFASourceNewInFullTable(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "g.db"))
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range store.MFASourcesMax {
		if _, err := tx.ExecContext(ctx, `INSERT INTO mfa_sources(source, seen_at) VALUES (?, ?)`,
			fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255), unixNano(now.Add(-time.Hour+time.Duration(i)*time.Millisecond))); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	room := store.MFASourceRoom{IdleBefore: now.Add(-24 * time.Hour), QuietBefore: now.Add(-time.Minute)}
	i := 0
	for b.Loop() {
		i++
		if err := s.UpdateMFASource(ctx, fmt.Sprintf("192.0.%d.%d", i>>8&255, i&255), room, func(st *store.MFASourceState) error {
			st.Seen = now
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}
