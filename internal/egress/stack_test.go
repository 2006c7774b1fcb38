package egress_test

import (
	"testing"

	"gatehouse/internal/testenv"
)

// RunSession's loop is where an idle relayed session's goroutine waits, on top of ingress's,
// the command language's and connect's frames: under 7.2 KiB in all, its stack shrinks to 16 KiB
// at a GC, at or over, it stays at 32 (connect's TestRelayWaitFramesAreSmall). The loop's
// cases (exit status, window changes, signals) run in functions of their own.
func TestRunSessionFrameIsSmall(t *testing.T) {
	testenv.CheckFrames(t, "gatehouse/internal/egress", map[string]int{
		"gatehouse/internal/egress.RunSession": 640,
	})
}
