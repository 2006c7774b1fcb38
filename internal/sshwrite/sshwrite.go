// Package sshwrite makes each SSH packet that golang.org/x/crypto/ssh writes leave in one write
// of the connection under it (one writev on a socket, one packet on an SSH channel) instead of
// two. See Joiner.
package sshwrite

import (
	"io"
	"net"
	"sync"
	"time"
)

// x/crypto/ssh writes each SSH packet through a bufio.Writer of 4096 bytes and flushes it at the
// end of the packet. With AES-GCM (gatehouse's default ciphers) it writes the 4-byte length
// first and the sealed rest after, so every packet longer than 4096 bytes reaches the connection
// as two writes: the full buffer (4096 bytes) and then the remainder. On a socket that is two
// system calls and, with TCP_NODELAY, two TCP segments per packet; on a jump's outer channel it
// is two outer SSH packets (two seals, two writes each) per inner packet: the bulk of a
// download's system calls (docs/performance.md, Issue 12).
//
// Joiner holds a write of exactly joinHeld bytes (bufio's full buffer) and sends it
// together with the next write, as one writev or one channel packet. bufio writes a packet's
// remainder at once, straight after the flush, from the same goroutine; and a packet that is
// exactly 4096 bytes (a flush with nothing after it) does not occur with gatehouse's ciphers
// and MACs: a packet is 4 bytes of length, a body that is a multiple of 8 or 16 bytes, and a
// tag or MAC of 16, 20, 32 or 64 bytes (none before the first NEWKEYS), never 4096 in all.
// Should it occur (hmac-sha1-96's 12 bytes allow it; another x/crypto), a timer sends the held
// bytes alone after joinMaxHold to 2×joinMaxHold: a
// delay, never a stall. The timer is armed once per joinMaxHold while writes are held, not per
// packet: arming it earlier than the runtime's next poll wakes the poller, one more system call
// per packet (measured: as many as the writes it saved). When it fires on a later hold than the
// one that armed it (a packet in the middle of its two writes), it waits one period more.
const (
	joinHeld    = 4096
	joinMaxHold = 10 * time.Millisecond
)

// heldPool lends the bytes a Joiner holds, only while it holds them: an idle connection
// keeps none.
var heldPool = sync.Pool{New: func() any { b := make([]byte, 0, joinHeld); return &b }}

// Joiner joins the two writes of one SSH packet. send writes first (nil: nothing held)
// then rest as one unit and returns how many bytes of both it wrote.
type Joiner struct {
	send func(first, rest []byte) (int, error)

	mu      sync.Mutex
	held    *[]byte // nil: nothing held
	timer   *time.Timer
	armed   bool   // the timer will fire
	holds   uint64 // writes held so far
	armedAt uint64 // holds when the timer was armed: the hold it watches
	// joined and alone count held writes sent with the next one and alone (Counts).
	joined, alone int
	err           error // a held write's error, reported by the next Write
}

func NewJoiner(send func(first, rest []byte) (int, error)) *Joiner {
	j := &Joiner{send: send}
	j.timer = time.AfterFunc(time.Hour, j.flushHeld)
	j.timer.Stop()
	return j
}

// Write sends p, or holds it when it is bufio's full buffer. Like any io.Writer it returns
// len(p) only when p is written or, held, will be written with the next write.
func (j *Joiner) Write(p []byte) (int, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, j.err
	}
	if j.held == nil {
		if len(p) == joinHeld {
			b := heldPool.Get().(*[]byte)
			*b = append((*b)[:0], p...)
			j.held = b
			j.holds++
			if !j.armed {
				j.armed, j.armedAt = true, j.holds
				j.timer.Reset(joinMaxHold)
			}
			return len(p), nil
		}
		return j.send(nil, p)
	}
	first := *j.held
	n, err := j.send(first, p)
	j.release()
	j.joined++
	if err != nil {
		// The held bytes were reported written: the connection is broken either way.
		j.err = err
		return max(0, n-len(first)), err
	}
	return len(p), nil
}

// flushHeld sends what is held alone (the timer: no write followed yet).
func (j *Joiner) flushHeld() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.flushLocked(false)
}

// flushLocked sends what is held alone: at once when now, else only the hold the timer watched
// (a later hold gets one more period).
func (j *Joiner) flushLocked(now bool) {
	j.armed = false
	if j.held == nil {
		return
	}
	if !now && j.holds != j.armedAt {
		j.armed, j.armedAt = true, j.holds
		j.timer.Reset(joinMaxHold)
		return
	}
	if _, err := j.send(nil, *j.held); err != nil {
		j.err = err
	}
	j.release()
	j.alone++
}

func (j *Joiner) release() {
	heldPool.Put(j.held)
	j.held = nil
}

// Close stops the timer and drops what is held; it never waits. A write in progress holds mu
// while it waits on the peer (a full socket, an outer channel's window the client controls):
// waiting for it would keep the caller from closing what is under it, which is what ends that
// write — a freeze or a kill would hang on a peer that stopped reading. What is held at close
// is the first 4096 bytes of a packet whose rest never came (gatehouse's ciphers never make a
// whole packet of 4096 bytes), so nothing of use is lost.
func (j *Joiner) Close() {
	j.timer.Stop()
	if !j.mu.TryLock() {
		return
	}
	defer j.mu.Unlock()
	j.armed = false
	if j.held != nil {
		j.release()
	}
	if j.err == nil {
		j.err = net.ErrClosed
	}
}

// Counts is how many held writes went out joined to the next one, and alone (the timer).
func (j *Joiner) Counts() (joined, alone int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.joined, j.alone
}

// Conn is c with its writes joined onto w, the socket under c's own wrappers (c's reads,
// deadlines and the rest are c's): by one writev when w is a *net.TCPConn, else copied into one
// write.
type Conn struct {
	net.Conn
	J *Joiner
}

// NewConn returns c with joined writes onto w (nil: c itself).
func NewConn(c net.Conn, w io.Writer) *Conn {
	if w == nil {
		w = c
	}
	send := Copying(w)
	if tcp, ok := w.(*net.TCPConn); ok {
		send = func(first, rest []byte) (int, error) {
			if first == nil {
				return tcp.Write(rest)
			}
			bufs := net.Buffers{first, rest}
			n, err := bufs.WriteTo(tcp) // one writev
			return int(n), err
		}
	}
	return &Conn{Conn: c, J: NewJoiner(send)}
}

func (c *Conn) Write(p []byte) (int, error) { return c.J.Write(p) }

// Close drops what is held (never waiting on a write in progress), then closes c.
func (c *Conn) Close() error {
	c.J.Close()
	return c.Conn.Close()
}

// joinPool lends the buffer two writes are joined in, only for that write.
var joinPool = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// Copying sends first and rest as one write on w (one SSH channel packet when they fit its
// maximum packet).
func Copying(w io.Writer) func(first, rest []byte) (int, error) {
	return func(first, rest []byte) (int, error) {
		if first == nil {
			return w.Write(rest)
		}
		b := joinPool.Get().(*[]byte)
		*b = append(append((*b)[:0], first...), rest...)
		n, err := w.Write(*b)
		if cap(*b) <= 64<<10 {
			joinPool.Put(b)
		}
		return n, err
	}
}
