package ingress_test

import (
	"testing"

	"gatehouse/internal/testenv/frames"
)

// A session channel's request loop waits for the session's life (except while a relay has
// borrowed it: sessionRequests.Lend, TestRelayedSessionLendsItsRequestLoop). With the requests
// handled in its own frame (1.2 KiB of locals) it used about 2.4 KiB with the runtime's frames
// and Go kept its stack at 8 KiB; with each request handled in sessionRequests.handle, whose
// frame is gone while the loop waits, it uses under 2 KiB and keeps 4 KiB.
func TestSessionLoopStackIsSmall(t *testing.T) {
	frames.Check(t, "gatehouse/internal/ingress", map[string]int{
		"gatehouse/internal/ingress.(*Server).handleSession":    160,
		"gatehouse/internal/ingress.(*sessionRequests).loop":    160,
		"gatehouse/internal/ingress.(*Server).handleConn.func7": 256,
		// Below the session's goroutine's wait in the relay (see connect's
		// TestRelayWaitFramesAreSmall): its end (step 8) runs in end.
		"gatehouse/internal/ingress.(*Server).run": 576,
	})
}
