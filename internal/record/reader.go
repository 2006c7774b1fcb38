package record

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Header describes a recording. For asciicast it is the file's header
// line; for ttyrec (which has none) it is derived from the first frame.
type Header struct {
	Version       int               `json:"version"`
	Width         int               `json:"width"`
	Height        int               `json:"height"`
	Timestamp     int64             `json:"timestamp,omitempty"`
	Duration      float64           `json:"duration,omitempty"`
	IdleTimeLimit float64           `json:"idle_time_limit,omitempty"`
	Command       string            `json:"command,omitempty"`
	Title         string            `json:"title,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
}

// EventKind is an asciicast event code.
type EventKind byte

const (
	KindOutput EventKind = 'o'
	KindInput  EventKind = 'i'
	KindResize EventKind = 'r'
	KindMarker EventKind = 'm'
)

// Event is one recorded event.
type Event struct {
	Time       time.Duration // since the start of the recording
	Kind       EventKind
	Data       []byte // output or input bytes, or a marker's label
	Cols, Rows int    // for KindResize
}

// Limits that keep a hostile or corrupt file from making the reader
// allocate without bound.
const (
	maxLineBytes  = 64 << 20
	maxFrameBytes = 16 << 20 // ovh-ttyrec's ttyplay uses the same bound
)

// ErrCorrupt is wrapped by reader errors about malformed recordings.
var ErrCorrupt = errors.New("record: corrupt recording")

// Reader reads events from an asciicast v2 or ttyrec recording, streaming.
// A truncated final line or frame (a crash mid-write) ends the recording
// cleanly: Next returns io.EOF and Truncated reports true.
type Reader struct {
	format    Format
	header    Header
	br        *bufio.Reader
	line      int
	truncated bool
	// ttyrec state
	base    time.Time
	pending *Event
	// gatehouse state
	gh ghReader
}

// NewReader detects the format of r and reads its header.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	rd := &Reader{br: br}
	first, err := br.Peek(1)
	if err == io.EOF {
		return nil, fmt.Errorf("%w: empty file", ErrCorrupt)
	}
	if err != nil {
		return nil, fmt.Errorf("record: read recording: %w", err)
	}
	if magic, _ := br.Peek(len(ghMagic)); string(magic) == ghMagic {
		_, _ = br.Discard(len(ghMagic)) // Peek returned these bytes: Discard cannot fail
		rd.format = Gatehouse
		rd.header, err = rd.gh.start(br)
		if err != nil {
			return nil, err
		}
		return rd, nil
	}
	if first[0] == '{' {
		ok, err := rd.tryAsciicastHeader()
		if err != nil {
			return nil, err
		}
		if ok {
			return rd, nil
		}
	}
	rd.format = Ttyrec
	ev, err := rd.nextTtyrec()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: not asciicast v2, and no complete ttyrec frame", ErrCorrupt)
	}
	if err != nil {
		return nil, err
	}
	rd.header = Header{Timestamp: rd.base.Unix(), Width: 80, Height: 24}
	if ev.Kind == KindResize {
		rd.header.Width, rd.header.Height = ev.Cols, ev.Rows
	}
	rd.pending = &ev
	return rd, nil
}

// tryAsciicastHeader peeks at the first line; if it is an asciicast header
// it consumes it. A file that starts with '{' but is not JSON is taken for
// ttyrec (whose first byte is arbitrary).
func (r *Reader) tryAsciicastHeader() (bool, error) {
	peek, _ := r.br.Peek(r.br.Size())
	nl := bytes.IndexByte(peek, '\n')
	if nl < 0 {
		nl = len(peek)
	}
	var h Header
	if err := json.Unmarshal(peek[:nl], &h); err != nil {
		return false, nil
	}
	if h.Version != 2 {
		return false, fmt.Errorf("%w: asciicast version %d; only version 2 is supported (convert with `asciinema convert -f asciicast-v2`)", ErrCorrupt, h.Version)
	}
	r.format, r.header, r.line = Asciicast, h, 1
	_, _ = r.br.Discard(min(nl+1, len(peek))) // bytes Peek returned: Discard cannot fail
	return true, nil
}

// Format returns the detected format.
func (r *Reader) Format() Format { return r.format }

// Header returns the recording's header.
func (r *Reader) Header() Header { return r.header }

// Truncated reports whether the recording ended with an incomplete line or
// frame (valid only after Next returned io.EOF).
func (r *Reader) Truncated() bool { return r.truncated }

// Next returns the next event, or io.EOF at the end. Unknown asciicast
// event codes are skipped, as the format requires.
func (r *Reader) Next() (Event, error) {
	if r.format == Gatehouse {
		ev, err := r.gh.next()
		if err == errTruncated {
			r.truncated = true
			return Event{}, io.EOF
		}
		return ev, err
	}
	if r.format == Ttyrec {
		if r.pending != nil {
			ev := *r.pending
			r.pending = nil
			return ev, nil
		}
		return r.nextTtyrec()
	}
	return r.nextAsciicast()
}

func (r *Reader) nextAsciicast() (Event, error) {
	for {
		line, complete, err := r.readLine()
		if err != nil {
			return Event{}, err
		}
		r.line++
		if len(bytes.TrimSpace(line)) == 0 {
			if !complete {
				return Event{}, io.EOF
			}
			continue
		}
		ev, known, err := parseCastEvent(line)
		if err != nil {
			if !complete {
				// A crash cut the last line: keep what came before it.
				r.truncated = true
				return Event{}, io.EOF
			}
			return Event{}, fmt.Errorf("%w: line %d: %v", ErrCorrupt, r.line, err)
		}
		if known {
			return ev, nil
		}
	}
}

// readLine returns the next line without its newline, and whether a
// newline ended it.
func (r *Reader) readLine() ([]byte, bool, error) {
	var long []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		switch err {
		case nil:
			if long != nil {
				return append(long, chunk[:len(chunk)-1]...), true, nil
			}
			return chunk[:len(chunk)-1], true, nil
		case bufio.ErrBufferFull:
			if len(long)+len(chunk) > maxLineBytes {
				return nil, false, fmt.Errorf("%w: line %d longer than %d bytes", ErrCorrupt, r.line+1, maxLineBytes)
			}
			long = append(long, chunk...)
		case io.EOF:
			long = append(long, chunk...)
			if len(long) == 0 {
				return nil, false, io.EOF
			}
			return long, false, nil
		default:
			return nil, false, fmt.Errorf("record: read recording: %w", err)
		}
	}
}

func parseCastEvent(line []byte) (Event, bool, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(line, &raw); err != nil {
		return Event{}, false, err
	}
	if len(raw) < 3 {
		return Event{}, false, errors.New("event is not [time, code, data]")
	}
	var t float64
	var code, data string
	if err := json.Unmarshal(raw[0], &t); err != nil {
		return Event{}, false, fmt.Errorf("event time: %v", err)
	}
	if err := json.Unmarshal(raw[1], &code); err != nil {
		return Event{}, false, fmt.Errorf("event code: %v", err)
	}
	if err := json.Unmarshal(raw[2], &data); err != nil {
		return Event{}, false, fmt.Errorf("event data: %v", err)
	}
	ev := Event{Time: time.Duration(t * float64(time.Second))}
	switch code {
	case "o", "i", "m":
		ev.Kind, ev.Data = EventKind(code[0]), []byte(data)
	case "r":
		cols, rows, ok := parseSize(data)
		if !ok {
			return Event{}, false, fmt.Errorf("resize %q is not COLSxROWS", data)
		}
		ev.Kind, ev.Cols, ev.Rows = KindResize, cols, rows
	default:
		return Event{}, false, nil
	}
	return ev, true, nil
}

func parseSize(s string) (cols, rows int, ok bool) {
	c, r, found := bytes.Cut([]byte(s), []byte("x"))
	if !found {
		return 0, 0, false
	}
	cols, err1 := strconv.Atoi(string(c))
	rows, err2 := strconv.Atoi(string(r))
	return cols, rows, err1 == nil && err2 == nil && cols > 0 && rows > 0
}

func (r *Reader) nextTtyrec() (Event, error) {
	var h [ttyrecHeaderLen]byte
	if _, err := io.ReadFull(r.br, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			r.truncated = true
			return Event{}, io.EOF
		}
		if err == io.EOF {
			return Event{}, io.EOF
		}
		return Event{}, fmt.Errorf("record: read recording: %w", err)
	}
	n := binary.LittleEndian.Uint32(h[8:])
	if n > maxFrameBytes {
		return Event{}, fmt.Errorf("%w: ttyrec frame of %d bytes", ErrCorrupt, n)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(r.br, data); err != nil {
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			r.truncated = true
			return Event{}, io.EOF
		}
		return Event{}, fmt.Errorf("record: read recording: %w", err)
	}
	t := decodeTtyrecTime(binary.LittleEndian.Uint32(h[0:]), binary.LittleEndian.Uint32(h[4:]))
	if r.base.IsZero() {
		r.base = t
	}
	ev := Event{Time: t.Sub(r.base), Kind: KindOutput, Data: data}
	if cols, rows, ok := parseResizeSequence(data); ok {
		ev = Event{Time: ev.Time, Kind: KindResize, Cols: cols, Rows: rows}
	}
	return ev, nil
}

// parseResizeSequence recognises a frame that is exactly ESC [ 8 ; R ; C t.
func parseResizeSequence(p []byte) (cols, rows int, ok bool) {
	rest, found := bytes.CutPrefix(p, []byte("\x1b[8;"))
	if !found {
		return 0, 0, false
	}
	rest, found = bytes.CutSuffix(rest, []byte("t"))
	if !found {
		return 0, 0, false
	}
	r, c, found := bytes.Cut(rest, []byte(";"))
	if !found {
		return 0, 0, false
	}
	rows, err1 := strconv.Atoi(string(r))
	cols, err2 := strconv.Atoi(string(c))
	return cols, rows, err1 == nil && err2 == nil && cols > 0 && rows > 0
}
