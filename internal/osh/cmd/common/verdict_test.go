package common

import "testing"

func TestSessionVerdict(t *testing.T) {
	for _, tc := range []struct {
		status  string
		allowed bool
		want    string
	}{
		{"open", false, "running"},
		{"open", true, "allowed"},
		{"closed", true, "allowed"},
		{"closed", false, "DENIED"},
		{"interrupted", true, "allowed"},
		{"interrupted", false, "unknown"},
	} {
		if got := SessionVerdict(tc.status, tc.allowed); got != tc.want {
			t.Errorf("SessionVerdict(%q, %v) = %q, want %q", tc.status, tc.allowed, got, tc.want)
		}
	}
}
