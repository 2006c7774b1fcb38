package app

import (
	"testing"

	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

// What a running session becomes when the cluster's controls may have been missed: every
// combination of found, frozen and a freeze reason.
func TestRecheckVerdict(t *testing.T) {
	for _, c := range []struct {
		found, frozen bool
		why           string
		end           bool
		exit          int
		reason        string
	}{
		{false, false, "", true, osh.ExitInactive, "Your account has been deleted"},
		{false, true, "x", true, osh.ExitInactive, "Your account has been deleted"},
		{true, true, "", true, osh.ExitFrozen, "Your account has been frozen"},
		{true, true, "incident 7", true, osh.ExitFrozen, "Your account has been frozen (incident 7)"},
		{true, false, "", false, 0, ""},
		{true, false, "stale reason", false, 0, ""},
	} {
		end, reason, exit := RecheckVerdict(store.Account{Frozen: c.frozen, FrozenReason: c.why}, c.found)
		if end != c.end || exit != c.exit || reason != c.reason {
			t.Errorf("found=%v frozen=%v %q: %v %q %d, want %v %q %d", c.found, c.frozen, c.why, end, reason, exit, c.end, c.reason, c.exit)
		}
	}
}
