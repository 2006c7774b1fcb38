package ingress

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// stuckForwardChannel is a forwarded channel whose client stopped reading its socket: its
// Close (a message on the client's connection) waits in x/crypto's transport until stuck is
// closed, and its reads wait for data that does not come.
type stuckForwardChannel struct {
	ssh.Channel // nothing else is used
	stuck       chan struct{}
}

func (c *stuckForwardChannel) Read([]byte) (int, error)    { <-c.stuck; return 0, io.EOF }
func (c *stuckForwardChannel) Write(p []byte) (int, error) { <-c.stuck; return 0, io.EOF }
func (c *stuckForwardChannel) CloseWrite() error           { <-c.stuck; return nil }
func (c *stuckForwardChannel) Close() error                { <-c.stuck; return nil }

// TestPipeEndClosesTargetFirst: a forwarded connection ended by its context (a revoke, a
// freeze) closes its target's side at once, even when its client stopped reading its socket
// (the client's Close waits as long as the client likes): the target's connection must not
// outlive the revoke.
func TestPipeEndClosesTargetFirst(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	target, err := ln.Accept() // the target's end of the forwarded connection
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	ch := &stuckForwardChannel{stuck: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); pipe(ctx, ch, dialed.(*net.TCPConn)) }()
	cancel()                                                     // revoked
	_ = target.SetReadDeadline(time.Now().Add(10 * time.Second)) // a failure's bound only
	_, err = target.Read(make([]byte, 1))
	close(ch.stuck)
	<-done
	if err != io.EOF {
		t.Fatalf("the target's side is still open after the forward was ended: %v", err)
	}
}
