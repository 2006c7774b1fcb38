package egress

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"

	"gatehouse/internal/quickack"
	"gatehouse/internal/sshwrite"
)

// Buffers are sized for two opposite loads: thousands of idle sessions,
// where every byte held per session counts, and a few bulk transfers, where
// large reads and writes cut per-call costs. So each stream blocks on a
// small buffer and borrows a large pooled one only while data keeps coming.

const (
	// idleBuffer is what the target's output stream of a relay holds while it waits: the
	// echo of keystrokes and a prompt fit, and a read that fills it starts a burst.
	idleBuffer = 512
	// quietBuffer is what the user's input and the target's stderr hold while they wait:
	// keystrokes fit (a paste is a burst), and a session's stderr is mostly empty (a pty
	// carries it on stdout). An idle relayed session holds 768 bytes of buffers, not 1,536.
	quietBuffer = 128
	smallBuffer = 2 << 10   // a read of the socket at least this large that fills starts a burst
	bulkBuffer  = 256 << 10 // borrowed from bulkPool during bursts
)

var bulkPool = sync.Pool{New: func() any { b := make([]byte, bulkBuffer); return &b }}

// OwnedWriter is a writer that may keep the caller's buffer rather than copy it: a session's
// recorder (the relay → recorder copy was a tenth of the recorder's CPU on bulk output). After
// WriteOwned(p) the caller must not touch p again; it reads on into next, a buffer the writer
// gives back (p itself when it kept nothing), or into a new one when next is nil. One goroutine
// per writer calls it: a writer gives back a buffer only in a later call, once whatever the
// caller did with it is over.
type OwnedWriter interface {
	WriteOwned(p []byte) (next []byte, err error)
}

// WriteOwned gives p to w, as w.WriteOwned when w is an OwnedWriter, as w.Write (nothing kept:
// next is p) otherwise; for writers that wrap another.
func WriteOwned(w io.Writer, p []byte) (next []byte, err error) {
	if ow, ok := w.(OwnedWriter); ok {
		return ow.WriteOwned(p)
	}
	n, err := w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return p, err
}

// relay copies r to w until EOF or an error, like io.Copy, and returns the
// first error (nil at EOF). A read that fills the idle buffer means more
// is waiting: it then reads with a pooled bulk buffer while reads come back
// full, and gives the buffer back after the first that does not. An SSH
// channel's Read returns all that is pending, so a read short of full has
// drained it, and the next one may wait for as long as the session stays
// idle: that wait must not hold the bulk buffer (a session that printed a
// large file and went back to its prompt would keep 256 KiB;
// TestRelayIdleAfterBurstHoldsNoBulkBuffer).
//
// idle is the size of the buffer it waits with (idleBuffer or quietBuffer).
func relay(w io.Writer, r io.Reader, idle int) error {
	small := make([]byte, idle)
	for {
		n, err := r.Read(small)
		if werr := writeAll(w, small[:n]); werr != nil {
			return werr
		}
		if err != nil {
			return eofIsNil(err)
		}
		if n < len(small) {
			continue
		}
		bp := bulkPool.Get().(*[]byte)
		for {
			n, err = r.Read(*bp)
			if werr := writeBulk(w, bp, n); werr != nil {
				bulkPool.Put(bp)
				return werr
			}
			if err != nil {
				bulkPool.Put(bp)
				return eofIsNil(err)
			}
			if n < len(*bp) {
				break
			}
		}
		bulkPool.Put(bp)
	}
}

// writerOnly hides every method of a writer but Write (OwnedWriter).
type writerOnly struct{ io.Writer }

// minOwned is the least a bulk read hands over whole (OwnedWriter): the recorder gathers smaller
// ones into batches, and a read that drained the channel ends the burst anyway.
const minOwned = 64 << 10

// writeBulk writes a bulk read, (*bp)[:n]: handed over to an OwnedWriter (writeOwned) when it is
// at least minOwned bytes, written otherwise.
func writeBulk(w io.Writer, bp *[]byte, n int) error {
	if ow, ok := w.(OwnedWriter); ok && n >= minOwned {
		return writeOwned(ow, bp, n)
	}
	return writeAll(w, (*bp)[:n])
}

// writeOwned hands (*bp)[:n] to w and puts in *bp the buffer to read into next: w's, or one
// from bulkPool (the one given away is w's now, and never goes back to the pool from here).
func writeOwned(w OwnedWriter, bp *[]byte, n int) error {
	next, err := w.WriteOwned((*bp)[:n])
	switch {
	case len(next) == bulkBuffer:
		*bp = next
	case next != nil && &next[:1][0] == &(*bp)[:1][0]:
		// kept nothing: read on into the same buffer
	default:
		*bp = *bulkPool.Get().(*[]byte)
	}
	return err
}

func writeAll(w io.Writer, p []byte) error {
	if len(p) == 0 {
		return nil
	}
	_, err := w.Write(p)
	return err
}

func eofIsNil(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}

// burstConn is the socket under x/crypto's transport. x/crypto reads each
// packet with a few small reads; during a burst (a read that filled the
// caller's buffer) burstConn reads ahead into a pooled bulk buffer so one
// syscall brings in many packets, and returns the buffer once drained
// after a read that was less than half full. Idle, it holds nothing.
// x/crypto calls Read from one goroutine only (its read loop).
//
// That read loop waits in Read for an idle session's whole life, under
// x/crypto's frames, so how deep it waits decides its stack: Go halves an
// idle goroutine's stack at a GC only while it uses under a quarter of it
// (counting 800 bytes the runtime reserves), and through net.Conn's Read
// (conn.Read, netFD.Read, poll.FD.Read: 320 bytes of frames) and
// sshwrite.Conn's promoted Read the loop waited about 1.4 KiB deep, over
// the 1.2 KiB that lets it keep 4 KiB: it kept 8. So burstConn is what
// x/crypto reads and writes (Read defined here, no wrapper frame between), and
// it reads the socket through its syscall.RawConn (rawConn.Read and
// poll.FD.RawRead: 168 bytes) with a callback built once (a closure per
// read would be an allocation): the loop waits about 1.2 KiB deep and
// keeps 4 KiB (TestBurstConnWaitFramesAreSmall). Deadlines and Close act
// on the raw read as on net.Conn's.
type burstConn struct {
	*sshwrite.Conn                 // writes (one writev per SSH packet), Close, addresses, deadlines
	raw            syscall.RawConn // nil: read through Conn (not a socket: tests' pipes)
	rawRead        func(fd uintptr) bool
	p              []byte // rawRead's arguments and results, set around raw.Read
	n              int
	err            error

	buf   *[]byte
	r, w  int
	burst bool
}

// newBurstConn is conn for x/crypto: read through burstConn, written through sshwrite.
func newBurstConn(conn net.Conn) *burstConn {
	c := &burstConn{Conn: sshwrite.NewConn(conn, conn)}
	c.useRaw(conn) // a socket is read through its RawConn where the OS allows (rawread_*.go)
	return c
}

// Read is where x/crypto's read loop waits while the connection is idle: one frame of a few
// words (the receiver and the call), the socket's result sorted out by readDone after it.
//
// Before a read that may wait (not during a burst) it sets TCP_QUICKACK: the target's sshd writes
// with Nagle on, and each pair of packets it sends in a row would wait up to 40 ms for our
// delayed ACK (internal/quickack). Reads of fewer than tinyRead bytes (x/crypto reads the
// version line byte by byte) are served from the bulk buffer, so the line and what follows it
// come in with one read.
func (c *burstConn) Read(p []byte) (int, error) {
	if c.buf != nil || (c.burst && len(p) < bulkBuffer) || (len(p) > 0 && len(p) < tinyRead) {
		return c.readBurst(p)
	}
	if c.raw == nil {
		return c.readConn(p)
	}
	_ = c.raw.Control(quickack.Set)
	c.p = p
	return c.readDone(c.raw.Read(c.rawRead), true)
}

// tinyRead is the size under which a read goes through the bulk buffer (a read-ahead).
const tinyRead = 16

// readConn is Read on a connection that is not a socket.
func (c *burstConn) readConn(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.burst = err == nil && len(p) >= smallBuffer && n == len(p)
	return n, err
}

// readDone gives a raw read of c.p net.Conn's results (io.EOF at the end of the stream, a
// *net.OpError on failure) and, for Read's own reads (idle), notes whether a burst starts:
// only a large read that came back full hints at more waiting (the version exchange reads
// byte by byte).
func (c *burstConn) readDone(err error, idle bool) (int, error) {
	n, want := c.n, len(c.p)
	if err == nil {
		err = c.err
	}
	c.p, c.n, c.err = nil, 0, nil
	if err == nil && n == 0 && want > 0 {
		err = io.EOF
	} else if err != nil {
		n = 0
		if errno, ok := err.(syscall.Errno); ok {
			err = os.NewSyscallError("read", errno)
		}
		err = &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	if idle {
		c.burst = err == nil && want >= smallBuffer && n == want
	}
	return n, err
}

// read is one read of the socket during a burst.
func (c *burstConn) read(p []byte) (int, error) {
	if c.raw == nil {
		return c.Conn.Read(p)
	}
	if !c.burst {
		_ = c.raw.Control(quickack.Set) // a tiny read's refill may wait
	}
	c.p = p
	return c.readDone(c.raw.Read(c.rawRead), false)
}

// readBurst serves a read during a burst: from the bulk buffer, or by refilling it.
func (c *burstConn) readBurst(p []byte) (int, error) {
	if c.buf != nil {
		n := copy(p, (*c.buf)[c.r:c.w])
		c.r += n
		if c.r == c.w {
			c.release()
		}
		return n, nil
	}
	c.buf = bulkPool.Get().(*[]byte)
	n, err := c.read(*c.buf)
	if n == 0 {
		c.release()
		c.burst = false
		return 0, err
	}
	c.r, c.w = 0, n
	c.burst = n >= bulkBuffer/2
	m := copy(p, (*c.buf)[:n])
	c.r = m
	if c.r == c.w {
		c.release()
	}
	// A read error after some bytes is reported by the next Read.
	return m, nil
}

func (c *burstConn) release() {
	bulkPool.Put(c.buf)
	c.buf, c.r, c.w = nil, 0, 0
}
