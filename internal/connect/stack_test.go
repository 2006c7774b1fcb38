package connect_test

import (
	"testing"

	"gatehouse/internal/testenv"
)

// The session's goroutine waits in Connect → relay → RunSession for the session's whole life.
// Go keeps a goroutine's stack at least four times what it uses: with the decision and the dial
// in Connect's own frame (5.5 KiB) and the relay's setup in relay's (1.9 KiB), what an idle
// session's goroutine uses while waiting was 13 KiB and its stack stayed at 32 KiB; with both
// frames small it waits under 7 KiB and its stack shrinks to 16 KiB at the next GC (with the
// frames below it, ingress's and the command language's, about 5.5 KiB).
func TestRelayWaitFramesAreSmall(t *testing.T) {
	testenv.CheckFrames(t, "gatehouse/internal/connect", map[string]int{
		"gatehouse/internal/connect.(*Connector).Connect": 768,
		"gatehouse/internal/connect.(*Connector).relay":   512,
	})
}
