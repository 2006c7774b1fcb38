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
	*sink
	wall time.Time // wall-clock start, stamped into frames
	mono time.Time // same instant, for monotonic elapsed time
	last time.Duration
}

func newTtyrecWriter(o *sink, opts Options, start time.Time) (*ttyrecWriter, error) {
	t := &ttyrecWriter{sink: o, wall: start.Round(0), mono: start}
	o.mu.Lock()
	defer o.mu.Unlock()
	t.frame(start, resizeSequence(opts.Cols, opts.Rows))
	if opts.Stealthed() {
		t.frame(start, []byte("\r\n["+StealthMarker+"]\r\n"))
	}
	o.eventDone()
	if o.err != nil {
		return nil, o.err
	}
	return t, nil
}

func (t *ttyrecWriter) output(at time.Time, p []byte) {
	if !t.usable() {
		return
	}
	for len(p) > 0 {
		n := min(len(p), maxEventBytes)
		t.frame(at, p[:n])
		p = p[n:]
	}
	t.eventDone()
}

// input is never called: ttyrec has no input frames (New refuses RecordInput).
func (t *ttyrecWriter) input(time.Time, []byte) {}

func (t *ttyrecWriter) resize(at time.Time, cols, rows int) {
	if !t.usable() {
		return
	}
	t.frame(at, resizeSequence(cols, rows))
	t.eventDone()
}

func (t *ttyrecWriter) end(time.Time) {}

// marker writes label as a line of output: ttyrec has no marker frames.
func (t *ttyrecWriter) marker(at time.Time, label string) {
	if !t.usable() {
		return
	}
	t.frame(at, []byte("\r\n["+label+"]\r\n"))
	t.eventDone()
}

// frame writes one header and payload.
func (t *ttyrecWriter) frame(at time.Time, p []byte) {
	d := at.Sub(t.mono)
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
