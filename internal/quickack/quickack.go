// Package quickack keeps Linux from delaying the ACKs of a TCP connection while the peer is
// waiting for them.
//
// OpenSSH (client and sshd) writes small packets without TCP_NODELAY until a session is
// interactive. When it writes two in a row, Nagle's algorithm holds the second until the first
// is acknowledged, and Linux delays that ACK by up to 40 ms when it has nothing to send back. A
// login or a session's start is a chain of such exchanges, so each stall adds 40 ms
// (docs/performance.md, Issue 2; and on the bastion's own connections to targets, issue 14).
// TCP_QUICKACK makes the kernel acknowledge at once, but Linux clears it by itself after a while,
// so it is set again before each read that may wait.
package quickack

import (
	"net"
	"sync/atomic"
	"syscall"
)

// Conn sets TCP_QUICKACK before reads while it is on.
type Conn struct {
	net.Conn
	raw syscall.RawConn
	on  atomic.Bool
	// Streaming: the last read returned at least streamRead bytes, so more is on its way and
	// the kernel acknowledges every second full segment anyway; the flag is set again once a
	// read comes back short (the peer may now be waiting for us).
	streaming bool
	// ahead holds what a tiny read brought in beyond what it asked for (tinyRead); nil once
	// drained, so an idle connection holds nothing here.
	ahead []byte
}

// tinyRead is the size below which a read is served from a read-ahead buffer of aheadSize
// bytes: x/crypto reads the peer's version line one byte at a time, and each byte would be a
// read and a flag, about a hundred system calls per connection. The line and what follows it
// arrive together, so one read brings them in.
const (
	tinyRead  = 16
	aheadSize = 512
)

// streamRead is the size of a read that says the peer is streaming rather than waiting.
const streamRead = 16 << 10

// New wraps c, a *net.TCPConn, with the flag on. Any other connection is returned as it is.
func New(c net.Conn) net.Conn {
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return c
	}
	q := &Conn{Conn: c, raw: raw}
	q.on.Store(true)
	return q
}

// Read sets the flag (when on and not streaming) and reads. Read is called from one goroutine
// at a time, as net.Conn's readers are.
func (q *Conn) Read(p []byte) (int, error) {
	if len(q.ahead) > 0 {
		n := copy(p, q.ahead)
		if q.ahead = q.ahead[n:]; len(q.ahead) == 0 {
			q.ahead = nil
		}
		return n, nil
	}
	if q.on.Load() && !q.streaming {
		_ = q.raw.Control(set)
	}
	if len(p) > 0 && len(p) < tinyRead {
		buf := make([]byte, aheadSize)
		n, err := q.Conn.Read(buf)
		m := copy(p, buf[:n])
		q.streaming = false
		if m < n {
			// Bytes wait in ahead: an error that came with them is the socket's, which the
			// read after them gets again (a closed or timed-out socket stays so).
			q.ahead = buf[m:n]
			return m, nil
		}
		return m, err
	}
	n, err := q.Conn.Read(p)
	q.streaming = n >= streamRead
	return n, err
}

// Stop ends the per-read flag (an authenticated client connection: its bulk relays pay no extra
// system call). c may be any connection; only a *Conn changes.
func Stop(c net.Conn) {
	if q, ok := c.(*Conn); ok {
		q.on.Store(false)
	}
}

// Set asks the kernel to acknowledge the socket fd's segments at once (until it clears the flag
// by itself): for a reader of its own over a syscall.RawConn, as raw.Control(quickack.Set).
func Set(fd uintptr) { set(fd) }
