package common

import (
	"testing"
	"time"

	"gatehouse/internal/store"
)

func TestIsActive(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	old := now.Add(-40 * 24 * time.Hour)
	for _, tc := range []struct {
		name   string
		a      store.Account
		global int
		want   bool
		reason string
	}{
		{"plain", store.Account{MaxInactiveDays: -1}, 30, true, ""},
		{"always active", store.Account{AlwaysActive: true, MaxInactiveDays: -1, LastSeenAt: old}, 30, true, "account local configuration"},
		{"frozen always active", store.Account{AlwaysActive: true, Frozen: true}, 0, false, "frozen"},
		{"ttl passed", store.Account{ExpiresAt: now.Add(-time.Hour)}, 0, false, "ttl expired"},
		{"inactive by global", store.Account{MaxInactiveDays: -1, LastSeenAt: old}, 30, false, "inactive"},
		{"own limit 0 never expires", store.Account{MaxInactiveDays: 0, LastSeenAt: old}, 30, true, ""},
		{"own limit wins", store.Account{MaxInactiveDays: 60, LastSeenAt: old}, 30, true, ""},
		{"never logged in", store.Account{MaxInactiveDays: -1}, 1, true, ""},
	} {
		got, reason := IsActive(&tc.a, now, tc.global)
		if got != tc.want || reason != tc.reason {
			t.Errorf("%s: IsActive = %v %q, want %v %q", tc.name, got, reason, tc.want, tc.reason)
		}
	}
}
