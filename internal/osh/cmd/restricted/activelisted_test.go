package restricted

import (
	"testing"
	"time"

	"gatehouse/internal/store"
)

// TestActiveAsListedIsInfos: accountList's is_active (and so --inactive-only, and the plain
// list's only state) is accountInfo's, over every combination of what decides it: frozen, TTL
// (none, over, at this very second, to come), the account's own always-active flag,
// alwaysActiveAccounts, last seen (never, recently, long ago), the account's and the global
// inactivity limits.
func TestActiveAsListedIsInfos(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	n := 0
	for _, frozen := range []bool{false, true} {
		for _, ttl := range []time.Time{{}, now.Add(-time.Hour), now, now.Add(time.Hour)} {
			for _, own := range []bool{false, true} {
				for _, listed := range []bool{false, true} {
					for _, seen := range []time.Time{{}, now.Add(-24 * time.Hour), now.Add(-400 * 24 * time.Hour)} {
						for _, days := range []int{-1, 0, 5} {
							for _, global := range []int{0, 5} {
								a := store.Account{Name: "x", Frozen: frozen, ExpiresAt: ttl, AlwaysActive: own, LastSeenAt: seen,
									MaxInactiveDays: days, CreatedAt: now.Add(-500 * 24 * time.Hour)}
								want := InfoValue(InfoInput{Account: a, CallerAuditor: true, Now: now, GlobalMaxInactiveDays: global,
									ListedAlwaysActive: listed}).IsActive == 1
								if got := activeAsListed(&a, now, global, listed); got != want {
									t.Fatalf("%+v listed %v global %d: accountList says active %v, accountInfo %v", a, listed, global, got, want)
								}
								n++
							}
						}
					}
				}
			}
		}
	}
	if n != 2*4*2*2*3*3*2 {
		t.Fatalf("%d cases", n)
	}
}
