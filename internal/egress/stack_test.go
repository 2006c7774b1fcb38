package egress_test

import (
	"testing"

	"gatehouse/internal/testenv/frames"
)

// RunSession's loop is where an idle relayed session's goroutine waits, on top of ingress's,
// the command language's and connect's frames: under 7.2 KiB in all, its stack shrinks to 16 KiB
// at a GC, at or over, it stays at 32 (connect's TestRelayWaitFramesAreSmall). The loop's
// cases (exit status, window changes, signals) run in functions of their own.
func TestRunSessionFrameIsSmall(t *testing.T) {
	frames.Check(t, "gatehouse/internal/egress", map[string]int{
		"gatehouse/internal/egress.RunSession": 640,
	})
}

// x/crypto's read loop of a target connection waits for a whole idle session in the frames
// under it: Go keeps its stack at 4 KiB only while it waits under 1,248 bytes deep (a quarter
// of 8 KiB, less the 800 bytes the runtime reserves). Measured from a traceback with sp and fp
// (GOTRACEBACK=system and SIGQUIT, 20 idle sessions): 1,048 bytes with burstConn.Read reading
// the socket's RawConn, about 1,290 before through sshwrite's wrapper and net.Conn's Read (8 KiB
// kept). TestBurstConnWaitsThroughRawConn checks the path; this, burstConn.Read's frame.
func TestBurstConnFrameIsSmall(t *testing.T) {
	frames.Check(t, "gatehouse/internal/egress", map[string]int{
		"gatehouse/internal/egress.(*burstConn).Read": 48,
	})
}
