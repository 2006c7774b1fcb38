package mfaauth

import (
	"testing"

	"gatehouse/internal/mfa/policy"
)

// TestTargetCovered: a session whose factors were answered when its connection authenticated
// runs only if every factor policy asks now is among them (every subset of the factors against
// every set of answers).
func TestTargetCovered(t *testing.T) {
	all := policy.AllFactors
	for ask := policy.Factors(0); ask < 1<<len(all); ask++ {
		for ans := policy.Factors(0); ans < 1<<len(all); ans++ {
			var names []string
			for _, f := range ans.List() {
				names = append(names, policy.Factors(f).String())
			}
			want := ask&^ans == 0
			if got := TargetCovered(ask, names); got != want {
				t.Errorf("ask %s, answered %v: %v, want %v", ask, names, got, want)
			}
		}
	}
	if TargetCovered(policy.Factors(policy.TOTP), []string{"password+totp"}) {
		t.Error("a joined name counted as a factor")
	}
}
