package record

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Replay writes the output of the recording in r to w with its original
// timing divided by speed (2 plays twice as fast). Pauses longer than
// maxIdle are cut to maxIdle; 0 means the header's idle_time_limit, or no
// limit. It returns ctx.Err() if ctx ends first. Input, resize and marker
// events are not written: w gets what the user saw, nothing else.
func Replay(ctx context.Context, w io.Writer, r io.Reader, speed float64, maxIdle time.Duration) error {
	if !(speed > 0) {
		return fmt.Errorf("record: replay speed %v must be > 0", speed)
	}
	rd, err := NewReader(r)
	if err != nil {
		return err
	}
	if maxIdle <= 0 && rd.Header().IdleTimeLimit > 0 {
		maxIdle = time.Duration(rd.Header().IdleTimeLimit * float64(time.Second))
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	var last time.Duration
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if ev.Kind != KindOutput {
			continue
		}
		gap := ev.Time - last
		last = ev.Time
		if maxIdle > 0 && gap > maxIdle {
			gap = maxIdle
		}
		if wait := time.Duration(float64(gap) / speed); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-timer.C:
			}
		} else if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := w.Write(ev.Data); err != nil {
			return fmt.Errorf("record: replay: %w", err)
		}
	}
}

// ExportText writes the output of the recording in r to w as plain text
// for search: ANSI escape sequences (CSI, OSC, DCS and the like) and
// control characters other than newline and tab are removed, and CR LF
// becomes LF. A sequence split across events is still removed.
func ExportText(w io.Writer, r io.Reader) error {
	rd, err := NewReader(r)
	if err != nil {
		return err
	}
	var s ansiStripper
	var out []byte
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if ev.Kind != KindOutput {
			continue
		}
		out = s.strip(out[:0], ev.Data)
		if _, err := w.Write(out); err != nil {
			return fmt.Errorf("record: export text: %w", err)
		}
	}
}

// ansiStripper is a small state machine after the ECMA-48 / VT500 parser
// (vt100.net/emu/dec_ansi_parser), reduced to "is this byte text?".
type ansiStripper struct{ state int }

const (
	stText   = iota
	stEsc    // after ESC
	stEscInt // ESC followed by intermediates (0x20-0x2f), until a final byte
	stCSI    // ESC [ ... final byte 0x40-0x7e
	stString // OSC, DCS, SOS, PM, APC: until BEL or ST (ESC \)
	stStrEsc // ESC seen inside a string
)

func (s *ansiStripper) strip(dst, p []byte) []byte {
	for i := 0; i < len(p); i++ {
		b := p[i]
		switch s.state {
		case stText:
			switch {
			case b == 0x1b:
				s.state = stEsc
			case b == '\n' || b == '\t' || b >= 0x20 && b != 0x7f:
				dst = append(dst, b)
			}
			// CR, BS, BEL and other controls are dropped: CR LF gives LF.
		case stEsc:
			switch {
			case b == '[':
				s.state = stCSI
			case b == ']' || b == 'P' || b == 'X' || b == '^' || b == '_':
				s.state = stString
			case b >= 0x20 && b <= 0x2f:
				s.state = stEscInt
			case b == 0x1b:
				// ESC ESC: stay.
			default:
				s.state = stText
			}
		case stEscInt:
			if b >= 0x30 && b <= 0x7e || b == 0x18 || b == 0x1a {
				s.state = stText
			}
		case stCSI:
			if b >= 0x40 && b <= 0x7e || b == 0x18 || b == 0x1a {
				s.state = stText
			} else if b == 0x1b {
				s.state = stEsc
			}
		case stString:
			if b == 0x07 || b == 0x18 || b == 0x1a {
				s.state = stText
			} else if b == 0x1b {
				s.state = stStrEsc
			}
		case stStrEsc:
			if b == '\\' {
				s.state = stText
			} else if b != 0x1b {
				s.state = stString
			}
		}
	}
	return dst
}
