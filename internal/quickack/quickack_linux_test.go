//go:build linux

package quickack

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"gatehouse/internal/testenv/nagle"
)

// A peer with Nagle on (as OpenSSH's sshd before a session has a terminal) answers each request
// with two small writes. Nagle holds the second until the first is acknowledged; a reader that
// delays its ACK waits up to 40 ms for it each round. Through Conn the rounds take well under that.
func TestPeerWithNagleIsNotStalled(t *testing.T) {
	wrap := func(raw net.Conn) net.Conn {
		c := New(raw)
		if _, ok := c.(*Conn); !ok {
			t.Fatalf("New(%T) did not wrap", raw)
		}
		return c
	}
	const rounds = 20
	slow := rounds * 40 * time.Millisecond / 2 // half of what delayed ACKs cost every round
	d := nagle.Rounds(t, wrap, rounds)
	t.Logf("with quickack: %v for %d rounds", d, rounds)
	if d >= slow {
		t.Fatalf("%d rounds through quickack.Conn took %v, want < %v (delayed ACKs not avoided)", rounds, d, slow)
	}
	// The stall exists without the flag: the test measures what it claims (logged, not failed:
	// how the kernel delays ACKs is its own business).
	t.Logf("without quickack: %v for %d rounds", nagle.Rounds(t, nil, rounds), rounds)
}

func TestStopAndNonTCP(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if New(a) != a {
		t.Fatal("a connection that is not TCP must come back unwrapped")
	}
	Stop(a) // no effect, no panic
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	q := New(raw).(*Conn)
	if !q.on.Load() {
		t.Fatal("a new Conn must start on")
	}
	Stop(q)
	if q.on.Load() {
		t.Fatal("Stop must turn the flag off")
	}
}

// Reads of every size through Conn give the stream as it was sent: the version line byte by
// byte (served from the read-ahead), then larger reads, then EOF; and the read-ahead is dropped
// once drained.
func TestReadAheadKeepsTheStream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	want := []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n")
	for i := 0; len(want) < 100_000; i++ {
		want = append(want, byte(i*7), byte(i>>3))
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = c.Write(want)
		c.Close()
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	q := New(raw).(*Conn)
	var got []byte
	sizes := []int{1, 1, 1, 3, 15, 16, 4096, 2, 1 << 16}
	for i := 0; ; i++ {
		p := make([]byte, sizes[i%len(sizes)])
		if i < 40 {
			p = p[:1] // the version line, byte by byte
		}
		n, err := q.Read(p)
		got = append(got, p[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i == 40 && !bytes.HasPrefix(got, want[:41]) {
			t.Fatalf("version line read as %q", got)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want the %d sent, in order", len(got), len(want))
	}
	if q.ahead != nil {
		t.Fatalf("read-ahead holds %d bytes after EOF", len(q.ahead))
	}
}
