package ingress

import "testing"

// TestRefusedForwardVerdictTable: every count of earlier refusals up to past the bound, closing
// or not: requests are decided while fewer than maxRefusedForwards were refused; the next one
// closes the connection (once); nothing is decided or closed again while it closes.
func TestRefusedForwardVerdictTable(t *testing.T) {
	for refused := 0; refused <= maxRefusedForwards+3; refused++ {
		for _, closing := range []bool{false, true} {
			decide, closeNow := refusedForwardVerdict(refused, closing)
			wantDecide := !closing && refused < maxRefusedForwards
			wantClose := !closing && refused >= maxRefusedForwards
			if decide != wantDecide || closeNow != wantClose || decide && closeNow {
				t.Errorf("refused %d closing %v: decide %v close %v, want %v %v", refused, closing, decide, closeNow, wantDecide, wantClose)
			}
		}
	}
}
