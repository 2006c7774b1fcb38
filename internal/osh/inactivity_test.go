package osh

import (
	"testing"
	"time"

	"gatehouse/internal/store"
)

// TestInactivityExpiredTable: every combination of the limit (own and global, up to values
// whose nanoseconds overflow a time.Duration), always-active, a first login or not, and the
// time since the last login. `--max-inactive-days 200000` (meant as "about never") used to
// wrap the limit negative and expire the account at its next login.
func TestInactivityExpiredTable(t *testing.T) {
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	limits := []int{-1, 0, 1, 30, MaxInactiveDays, 106751, 106752, 200000, 99999999999, 1 << 62}
	gaps := []time.Duration{0, time.Hour, 31 * 24 * time.Hour, 200 * 365 * 24 * time.Hour}
	for _, own := range limits {
		for _, global := range []int{0, 30} {
			for _, always := range []bool{false, true} {
				for _, seen := range []bool{false, true} {
					for _, gap := range gaps {
						a := store.Account{MaxInactiveDays: own, AlwaysActive: always}
						if seen {
							a.LastSeenAt = now.Add(-gap)
						}
						days, got := InactivityExpired(&a, now, global)
						wantDays := own
						if own < 0 {
							wantDays = global
						}
						// The limit in force, in days, against the gap, in days: no Duration.
						want := wantDays > 0 && !always && seen && gap.Hours()/24 > float64(wantDays)
						if days != wantDays || got != want {
							t.Errorf("own %d global %d always %v seen %v gap %v: got (%d, %v), want (%d, %v)",
								own, global, always, seen, gap, days, got, wantDays, want)
						}
					}
				}
			}
		}
	}
}
