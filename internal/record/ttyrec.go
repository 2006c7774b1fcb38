package record

import (
	"encoding/binary"
	"fmt"
	"time"
)

// ttyrec frame header: three little-endian uint32 (sec, usec, len).
const ttyrecHeaderLen = 12

// ttyrec timestamps are absolute wall-clock times, as the original ttyrec
// writes them (players sleep for the difference between frames).
//
// Past 2106 the seconds no longer fit 32 bits. As OVH's ovh-ttyrec does
// (per our reference study of The Bastion), the bits of the seconds above
// 32 go into the top 12 bits of the usec word, which only needs 20 bits
// for 0..999999. Until 2106 those bits are zero and the file is plain
// ttyrec that any player reads. (A player that reads the seconds word as
// a signed int32 sees it wrap in 2038; only a pause across the wrap is
// affected.)
const usecBits = 20

func encodeTtyrecTime(t time.Time) (sec, usec uint32) {
	s := t.Unix()
	return uint32(s), uint32(t.Nanosecond()/1000) | uint32(uint64(s)>>32)<<usecBits
}

func decodeTtyrecTime(sec, usec uint32) time.Time {
	s := int64(usec>>usecBits)<<32 | int64(sec)
	return time.Unix(s, int64(usec&(1<<usecBits-1))*1000)
}

// resizeSequence is how a ttyrec file carries a terminal size: the xterm
// "resize window" control sequence, as termrec does. Our reader turns a
// frame holding exactly this sequence back into a resize event; players
// pass it to the terminal, which resizes or ignores it.
func resizeSequence(cols, rows int) []byte {
	return fmt.Appendf(nil, "\x1b[8;%d;%dt", rows, cols)
}

// ttyrecWriter writes ttyrec frames: output only, no header of its own.
type ttyrecWriter struct {
	*output
	now     func() time.Time
	wall    time.Time // wall-clock start, stamped into frames
	mono    time.Time // same instant, for monotonic elapsed time
	last    time.Duration
	stealth bool
}

func newTtyrecWriter(o *output, opts Options) (*ttyrecWriter, error) {
	start := opts.Now()
	t := &ttyrecWriter{output: o, now: opts.Now, wall: start.Round(0), mono: start, stealth: opts.Stealthed()}
	o.mu.Lock()
	defer o.mu.Unlock()
	t.frame(resizeSequence(opts.Cols, opts.Rows))
	if t.stealth {
		t.frame([]byte("\r\n[" + StealthMarker + "]\r\n"))
	}
	o.eventDone()
	if o.err != nil {
		return nil, o.err
	}
	return t, nil
}

func (t *ttyrecWriter) Output(p []byte) {
	if t.stealth || len(p) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.usable() {
		return
	}
	for len(p) > 0 {
		n := min(len(p), maxEventBytes)
		t.frame(p[:n])
		p = p[n:]
	}
	t.eventDone()
}

// Input is a no-op: ttyrec has no input frames (New refuses RecordInput).
func (t *ttyrecWriter) Input([]byte) {}

func (t *ttyrecWriter) Resize(cols, rows int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.usable() {
		return
	}
	t.frame(resizeSequence(cols, rows))
	t.eventDone()
}

func (t *ttyrecWriter) Close() (string, int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.finish()
}

// frame writes one header and payload. Callers hold mu.
func (t *ttyrecWriter) frame(p []byte) {
	d := t.now().Sub(t.mono)
	if d < t.last {
		d = t.last
	}
	t.last = d
	sec, usec := encodeTtyrecTime(t.wall.Add(d))
	var h [ttyrecHeaderLen]byte
	binary.LittleEndian.PutUint32(h[0:], sec)
	binary.LittleEndian.PutUint32(h[4:], usec)
	binary.LittleEndian.PutUint32(h[8:], uint32(len(p)))
	t.write(h[:])
	t.write(p)
}
