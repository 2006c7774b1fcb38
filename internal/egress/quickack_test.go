//go:build linux

package egress

import (
	"net"
	"testing"
	"time"

	"gatehouse/internal/testenv/nagle"
)

// The target's sshd answers with two writes in a row with Nagle on; x/crypto reads the target
// through burstConn, which must not let the kernel delay its ACKs (each round would wait up to
// 40 ms for the second write).
func TestBurstConnNotStalledByNagle(t *testing.T) {
	const rounds = 20
	slow := rounds * 40 * time.Millisecond / 2 // half of what delayed ACKs cost every round
	d := nagle.Rounds(t, func(c net.Conn) net.Conn { return newBurstConn(c) }, rounds)
	t.Logf("through burstConn: %v for %d rounds", d, rounds)
	if d >= slow {
		t.Fatalf("%d rounds through burstConn took %v, want < %v (delayed ACKs not avoided)", rounds, d, slow)
	}
}
