package refusal

import "testing"

func TestExitOf(t *testing.T) {
	for _, tc := range []struct {
		code string
		exit int
	}{
		{"KO_ACCOUNT_FROZEN", 131},
		{"KO_TTL_EXPIRED", 121},
		{"KO_ACCESS_DENIED", 107},
		{"KO_MFA_FAILED", 125},
		{"KO_MFA_FAILED_SOMETHING", 125},
		{"KO_ACCOUNT_INVALID", 120},
		{"ERR_WHATEVER", 100},
		{"", 100},
	} {
		if got := ExitOf(tc.code); got != tc.exit {
			t.Errorf("ExitOf(%q) = %d, want %d", tc.code, got, tc.exit)
		}
		if r := New(tc.code, "x %d", 1); r.Exit != tc.exit || r.Message != "x 1" || r.Error() != "x 1" {
			t.Errorf("New(%q) = %+v", tc.code, r)
		}
	}
}
