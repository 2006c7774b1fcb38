package sqlite

import (
	"context"
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
