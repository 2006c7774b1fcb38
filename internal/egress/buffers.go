package egress

import (
	"io"
	"net"
	"sync"
)

// Buffers are sized for two opposite loads: thousands of idle sessions,
// where every byte held per session counts, and a few bulk transfers, where
// large reads and writes cut per-call costs. So each stream blocks on a
// small buffer and borrows a large pooled one only while data keeps coming.

const (
	// idleBuffer is what each stream of a relay (stdin, stdout, stderr) holds while it waits:
	// keystrokes, their echo and a prompt fit, and a read that fills it starts a burst. Three
	// per relayed session, so thousands of idle sessions hold a few KiB each, not 6.
	idleBuffer  = 512
	smallBuffer = 2 << 10   // a read of the socket at least this large that fills starts a burst
	bulkBuffer  = 256 << 10 // borrowed from bulkPool during bursts
)

var bulkPool = sync.Pool{New: func() any { b := make([]byte, bulkBuffer); return &b }}

// relay copies r to w until EOF or an error, like io.Copy, and returns the
// first error (nil at EOF). A read that fills the idle buffer means more
// is waiting: it then reads with a pooled bulk buffer while reads come back
// full, and gives the buffer back after the first that does not. An SSH
// channel's Read returns all that is pending, so a read short of full has
// drained it, and the next one may wait for as long as the session stays
// idle: that wait must not hold the bulk buffer (a session that printed a
// large file and went back to its prompt would keep 256 KiB;
// TestRelayIdleAfterBurstHoldsNoBulkBuffer).
func relay(w io.Writer, r io.Reader) error {
	small := make([]byte, idleBuffer)
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
			if werr := writeAll(w, (*bp)[:n]); werr != nil {
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
type burstConn struct {
	net.Conn
	buf   *[]byte
	r, w  int
	burst bool
}

func (c *burstConn) Read(p []byte) (int, error) {
	if c.buf != nil {
		n := copy(p, (*c.buf)[c.r:c.w])
		c.r += n
		if c.r == c.w {
			c.release()
		}
		return n, nil
	}
	if !c.burst || len(p) >= bulkBuffer {
		n, err := c.Conn.Read(p)
		// Only a large read that came back full hints at more waiting
		// (the version exchange reads byte by byte).
		c.burst = err == nil && len(p) >= smallBuffer && n == len(p)
		return n, err
	}
	c.buf = bulkPool.Get().(*[]byte)
	n, err := c.Conn.Read(*c.buf)
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
