package egress

import (
	"net"
	"testing"

	"gatehouse/internal/quickack"
)

// Dial reads a target's connection with TCP_QUICKACK set before each read (internal/quickack,
// whose tests show the stall it avoids): OpenSSH's sshd writes with Nagle on until a session has
// a terminal, so each pair of its packets (a channel's open, a command's exit) would otherwise
// wait for our delayed ACK, up to 40 ms each (issue 14; docs/performance.md).
func TestTargetReaderSetsQuickAck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, ok := targetReader(conn).Conn.(*quickack.Conn); !ok {
		t.Fatalf("a target's connection is read through %T, want *quickack.Conn", targetReader(conn).Conn)
	}
}
