package access

import (
	"testing"
	"time"
)

// TestAccountGate is the one account gate, over frozen × TTL (none, future, now, past).
func TestAccountGate(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ttls := map[string]time.Time{"none": {}, "future": now.Add(time.Second), "now": now, "past": now.Add(-time.Hour)}
	for _, frozen := range []bool{false, true} {
		for name, exp := range ttls {
			for _, reason := range []string{"", "left"} {
				r := AccountGate(now, Account{Name: "dave", Frozen: frozen, FrozenReason: reason, Expiry: exp})
				var code string
				var exit int
				switch {
				case frozen:
					code, exit = "KO_ACCOUNT_FROZEN", 131
				case name == "now" || name == "past":
					code, exit = "KO_TTL_EXPIRED", 121
				}
				if code == "" {
					if r != nil {
						t.Errorf("frozen %v ttl %s: refused %+v", frozen, name, r)
					}
					continue
				}
				if r == nil || r.Code != code || r.Exit != exit {
					t.Errorf("frozen %v ttl %s: %+v, want %s %d", frozen, name, r, code, exit)
					continue
				}
				if frozen && reason != "" && r.Message != "Sorry dave, your account is frozen (left)." {
					t.Errorf("message %q", r.Message)
				}
			}
		}
	}
}
