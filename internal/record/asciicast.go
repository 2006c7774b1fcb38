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
	*output
	now     func() time.Time
	start   time.Time
	last    float64 // seconds of the last event; times never decrease
	stealth bool
	input   bool
	out, in utf8Carry
	joined  [2 * utf8.UTFMax]byte
}

func newAsciicastWriter(o *output, opts Options) (*asciicastWriter, error) {
	start := opts.Now()
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
	a := &asciicastWriter{output: o, now: opts.Now, start: start, stealth: opts.Stealthed(), input: opts.RecordInput}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.write(append(line, '\n'))
	if a.stealth {
		a.event('m', nil, []byte(StealthMarker))
	}
	o.eventDone()
	if o.err != nil {
		return nil, o.err
	}
	return a, nil
}

func (a *asciicastWriter) Output(p []byte) {
	if a.stealth || len(p) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.text('o', &a.out, p)
}

func (a *asciicastWriter) Input(p []byte) {
	if !a.input || len(p) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.text('i', &a.in, p)
}

// Resize writes an "r" event. A character whose first bytes are being
// carried is written after it, with the next output, never cut in two.
func (a *asciicastWriter) Resize(cols, rows int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.usable() {
		return
	}
	var buf [32]byte
	size := strconv.AppendInt(buf[:0], int64(cols), 10)
	size = append(size, 'x')
	size = strconv.AppendInt(size, int64(rows), 10)
	a.event('r', nil, size)
	a.eventDone()
}

func (a *asciicastWriter) Close() (string, int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.usable() {
		// The stream ended mid-character: those bytes are really invalid.
		if a.out.n > 0 {
			a.event('o', nil, a.out.drain())
		}
		if a.in.n > 0 {
			a.event('i', nil, a.in.drain())
		}
	}
	return a.finish()
}

// text writes p as one or more events of code, keeping characters whole.
// Callers hold mu.
func (a *asciicastWriter) text(code byte, carry *utf8Carry, p []byte) {
	if !a.usable() {
		return
	}
	first, rest := carry.split(p, &a.joined)
	if len(first) == 0 && len(rest) == 0 {
		return
	}
	for {
		cut := len(rest)
		if cut > maxEventBytes {
			cut = maxEventBytes
			for i := 0; i < utf8.UTFMax-1 && !utf8.RuneStart(rest[cut]); i++ {
				cut--
			}
		}
		a.event(code, first, rest[:cut])
		first, rest = nil, rest[cut:]
		if len(rest) == 0 {
			break
		}
	}
	a.eventDone()
}

// event writes one `[t, "code", "first+data"]` line. Callers hold mu.
func (a *asciicastWriter) event(code byte, first, data []byte) {
	t := a.now().Sub(a.start).Seconds()
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
