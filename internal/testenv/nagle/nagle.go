// Package nagle is a test helper: a peer that writes with Nagle on, to show a reader does not
// delay its ACKs (internal/quickack).
package nagle

import (
	"io"
	"net"
	"testing"
	"time"
)

// Rounds runs rounds of a 1-byte request and a two-write answer over loopback against a
// peer with Nagle on (as OpenSSH's sshd before a session has a terminal), reading through
// wrap(conn) (nil: the bare connection), and returns the time the rounds took after a few
// untimed ones (which put the kernel in its delayed-ACK mode). A reader that delays its ACKs
// waits up to 40 ms a round for the answer's second write.
func Rounds(t testing.TB, wrap func(net.Conn) net.Conn, rounds int) time.Duration {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }() // a test listener: nothing to do about its close
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer func() { _ = c.Close() }()
		_ = c.(*net.TCPConn).SetNoDelay(false) // Nagle on, as sshd
		req := make([]byte, 1)
		for {
			if _, err := io.ReadFull(c, req); err != nil {
				done <- nil // the client closed
				return
			}
			if _, err := c.Write([]byte("first")); err != nil {
				done <- err
				return
			}
			if _, err := c.Write([]byte("second")); err != nil {
				done <- err
				return
			}
		}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := raw
	if wrap != nil {
		c = wrap(raw)
	}
	round := func() {
		if _, err := c.Write([]byte{'?'}); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len("firstsecond"))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "firstsecond" {
			t.Fatalf("read %q, %v", buf, err)
		}
	}
	for i := 0; i < 5; i++ {
		round()
	}
	start := time.Now()
	for i := 0; i < rounds; i++ {
		round()
	}
	d := time.Since(start)
	_ = c.Close() // ends the peer's loop (its read fails)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return d
}
