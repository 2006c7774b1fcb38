package record

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Export converts the recording in r (any format NewReader reads) to asciicast v2 or ttyrec on w,
// for players: `asciinema play`/`asciinema cat` and `ttyplay` play the result unchanged. Times,
// sizes, markers and (asciicast only) input events are kept; ttyrec, which has neither markers
// nor input, gets markers as lines of output and no input. A recording cut by a crash exports
// up to its last whole chunk, frame or line.
func Export(w io.Writer, r io.Reader, to Format) error {
	rd, err := NewReader(r)
	if err != nil {
		return err
	}
	h := rd.Header()
	start := time.Unix(h.Timestamp, 0)
	opts := Options{Format: to, Cols: h.Width, Rows: h.Height, Title: h.Title, Command: h.Command, HeaderCommand: h.Command != "",
		Term: h.Env["TERM"], Shell: h.Env["SHELL"]}
	if opts.Cols <= 0 || opts.Rows <= 0 {
		opts.Cols, opts.Rows = 80, 24
	}
	// The sink's timer never fires before finish: Export writes as fast as it reads.
	out := newSink(w, nil, time.Hour)
	var enc encoder
	switch to {
	case Asciicast:
		enc, err = newAsciicastWriter(out, opts, start)
	case Ttyrec:
		enc, err = newTtyrecWriter(out, opts, start)
	case Gatehouse:
		enc, err = newGhWriter(out, opts, start)
	default:
		return fmt.Errorf("record: cannot export to format %d", to)
	}
	if err != nil {
		return err
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	var last time.Duration
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			_, _, _ = out.finish() // the read error is the one to report
			return err
		}
		at := start.Add(ev.Time)
		last = ev.Time
		switch ev.Kind {
		case KindOutput:
			enc.output(at, ev.Data)
		case KindInput:
			if to != Ttyrec {
				enc.input(at, ev.Data)
			}
		case KindResize:
			enc.resize(at, ev.Cols, ev.Rows)
		case KindMarker:
			enc.marker(at, string(ev.Data))
		}
		if out.err != nil {
			break
		}
	}
	enc.end(start.Add(last))
	_, _, err = out.finish()
	return err
}
