package record

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// asciicastWriter writes asciicast v2: a JSON header line, then one
// `[seconds, code, data]` line per event. See docs/recording.md.
type asciicastWriter struct {
	*sink
	start   time.Time
	last    float64 // seconds of the last event; times never decrease
	out, in utf8Carry
	joined  [2 * utf8.UTFMax]byte
}

func newAsciicastWriter(o *sink, opts Options, start time.Time) (*asciicastWriter, error) {
	h := Header{
		Version:   2,
		Width:     opts.Cols,
		Height:    opts.Rows,
		Timestamp: start.Unix(),
		Title:     opts.Title,
	}
	if opts.HeaderCommand {
		h.Command = opts.Command
	}
	if opts.Term != "" || opts.Shell != "" {
		h.Env = map[string]string{}
		if opts.Term != "" {
			h.Env["TERM"] = opts.Term
		}
		if opts.Shell != "" {
			h.Env["SHELL"] = opts.Shell
		}
	}
	line, err := json.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("record: encode asciicast header: %w", err)
	}
	a := &asciicastWriter{sink: o, start: start}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.write(append(line, '\n'))
	if opts.Stealthed() {
		a.event('m', start, nil, []byte(StealthMarker))
	}
	o.eventDone()
	if o.err != nil {
		return nil, o.err
	}
	return a, nil
}

func (a *asciicastWriter) output(at time.Time, p []byte) { a.text('o', &a.out, at, p) }

func (a *asciicastWriter) input(at time.Time, p []byte) { a.text('i', &a.in, at, p) }

// resize writes an "r" event. A character whose first bytes are being
// carried is written after it, with the next output, never cut in two.
func (a *asciicastWriter) resize(at time.Time, cols, rows int) {
	if !a.usable() {
		return
	}
	var buf [32]byte
	size := strconv.AppendInt(buf[:0], int64(cols), 10)
	size = append(size, 'x')
	size = strconv.AppendInt(size, int64(rows), 10)
	a.event('r', at, nil, size)
	a.eventDone()
}

// end writes carried bytes: the stream ended mid-character, so they are
// really invalid.
func (a *asciicastWriter) end(at time.Time) {
	if a.out.n > 0 {
		a.event('o', at, nil, a.out.drain())
	}
	if a.in.n > 0 {
		a.event('i', at, nil, a.in.drain())
	}
}

// marker writes an "m" event (asciinema's marker) with label.
func (a *asciicastWriter) marker(at time.Time, label string) {
	if !a.usable() {
		return
	}
	a.event('m', at, nil, []byte(label))
	a.eventDone()
}

// text writes p as one or more events of code, keeping characters whole.
func (a *asciicastWriter) text(code byte, carry *utf8Carry, at time.Time, p []byte) {
	if !a.usable() {
		return
	}
	first, rest := carry.split(p, &a.joined)
	if len(first) == 0 && len(rest) == 0 {
		return
	}
	for {
		cut := len(rest)
		if limit := maxEventBytes - len(first); cut > limit {
			cut = limit
			for i := 0; i < utf8.UTFMax-1 && !utf8.RuneStart(rest[cut]); i++ {
				cut--
			}
		}
		a.event(code, at, first, rest[:cut])
		first, rest = nil, rest[cut:]
		if len(rest) == 0 {
			break
		}
	}
	a.eventDone()
}

// event writes one `[t, "code", "first+data"]` line.
func (a *asciicastWriter) event(code byte, at time.Time, first, data []byte) {
	t := at.Sub(a.start).Seconds()
	if t < a.last {
		t = a.last
	}
	a.last = t
	b := append(a.scratch[:0], '[')
	b = strconv.AppendFloat(b, t, 'f', 6, 64)
	b = append(b, ',', ' ', '"', code, '"', ',', ' ', '"')
	b = appendJSONString(b, first)
	b = appendJSONString(b, data)
	b = append(b, '"', ']', '\n')
	a.scratch = b
	a.write(b)
}
