package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"gatehouse/internal/record"
	"gatehouse/internal/store"
)

// A long recording is replayed in segments (the asciinema player's "segmented" format): the
// player loads a small index, then only the segment it plays (and the next one), so a 1-hour,
// 50 MB recording starts at once instead of after the whole cast has been downloaded and parsed.
//
// The index is made without reading the recording: its duration is the session's (the row's
// start and end, on the same clock as the recorder's), and the segments are equal slices of it,
// as many as the file's size asks for. A segment is read from the recording when asked for: the
// events before its start are skipped (decoding a .ghrec runs at several hundred MB/s), and the
// last output before it becomes the segment's snapshot, the text the player feeds its terminal
// so that a seek shows the screen as it was (see Snapshot).

// SegmentedFrom is the recording size from which the replay page uses segments; a smaller
// recording is loaded whole, which keeps the player's idle-time limit (segments cannot have it:
// removing idle time needs the whole recording read first).
const SegmentedFrom = 4 << 20

// Segment layout bounds.
const (
	segmentBytes  = 128 << 10       // about this much of the file per segment
	maxSegments   = 1000            //
	minSegmentLen = 5 * time.Second // never shorter: a seek loads at least this much
)

// SegmentPlan is the slicing of a recording of duration d stored in size bytes: n segments of
// length each (the last one up to d). Pure, so its bounds are tested as a table.
func SegmentPlan(d time.Duration, size int64) (n int, each time.Duration) {
	if d <= 0 {
		return 1, 0
	}
	want := int(min(max(size/segmentBytes, 1), maxSegments))
	each = max((d+time.Duration(want)-1)/time.Duration(want), minSegmentLen)
	each = (each + time.Millisecond - 1).Truncate(time.Millisecond) // whole milliseconds, rounded up
	n = int((d + each - 1) / each)
	return max(n, 1), each
}

// SegmentDuration is the duration a segment request slices with: the index's (given in the
// segment's URL, whole milliseconds) when it is a number between 0 and the session's duration
// now, else the session's duration now. Pure, tested as a table.
func SegmentDuration(given string, now time.Duration) time.Duration {
	ms, err := strconv.ParseInt(given, 10, 64)
	if err != nil || ms < 0 || ms > now.Milliseconds() {
		return now
	}
	return time.Duration(ms) * time.Millisecond
}

// sessionDuration is the length of a session's recording as the store knows it: from its start to
// its end, or to now while it runs. The recorder's clock starts with the row's.
func sessionDuration(s store.Session, now time.Time) time.Duration {
	end := s.EndedAt
	if end.IsZero() {
		end = now
	}
	return max(end.Sub(s.StartedAt).Truncate(time.Millisecond), 0)
}

type segIndex struct {
	Version  int          `json:"version"`
	Duration float64      `json:"duration"`
	Term     segTerm      `json:"term"`
	Segments []segPointer `json:"segments"`
}

type segTerm struct {
	Cols int `json:"cols"`
	Rows int `json:"rows"`
}

type segPointer struct {
	Start float64 `json:"start"`
	URL   string  `json:"url"`
}

// seconds writes a whole number of milliseconds as seconds: the player multiplies by 1000 and
// compares, so one millisecond value must always be written the same way.
func seconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }

func (c *Console) replayIndex(w http.ResponseWriter, r *http.Request, q *request) {
	s, ok := c.session(w, r, q)
	if !ok {
		return
	}
	rd, size, done, ok := c.openRecording(w, r, s)
	if !ok {
		return
	}
	defer done()
	d := sessionDuration(s, c.o.Now())
	n, each := SegmentPlan(d, size)
	h := rd.Header()
	idx := segIndex{Version: 1, Duration: seconds(d), Term: segTerm{Cols: max(h.Width, 1), Rows: max(h.Height, 1)}}
	for i := range n {
		// The duration goes with each segment's URL: a running session's grows between the
		// index and the segments, and the slicing must stay the index's.
		idx.Segments = append(idx.Segments, segPointer{Start: seconds(time.Duration(i) * each), URL: fmt.Sprintf("%d?d=%d", i, d.Milliseconds())})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(idx) // the browser went away: nothing to do
}

func (c *Console) replaySegment(w http.ResponseWriter, r *http.Request, q *request) {
	s, ok := c.session(w, r, q)
	if !ok {
		return
	}
	k, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || k < 0 {
		http.Error(w, "bad segment number", http.StatusBadRequest)
		return
	}
	rd, size, done, ok := c.openRecording(w, r, s)
	if !ok {
		return
	}
	defer done()
	d := SegmentDuration(r.URL.Query().Get("d"), sessionDuration(s, c.o.Now()))
	n, each := SegmentPlan(d, size)
	if k >= n {
		http.Error(w, "no such segment", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if err := WriteSegment(w, rd, d, time.Duration(k)*each, min(time.Duration(k+1)*each, d), k == n-1); err != nil {
		c.o.Log.Debug("console: replay segment", "session", s.ID, "segment", k, "err", err)
	}
}

// Snapshot bounds: the output kept before a segment's start, and what its snapshot may hold.
const (
	snapshotKeep = 512 << 10 // the tail of output kept while skipping to a segment
	snapshotMax  = 256 << 10 // a snapshot from the last screen clear, at most
	snapshotTail = 64 << 10  // without a clear in reach: this much, from a line start
)

// screenStarts are sequences after which what was printed before no longer shows: a clear of
// the whole screen, a terminal reset, a switch to or from the alternate screen.
var screenStarts = [][]byte{[]byte("\x1b[2J"), []byte("\x1bc"), []byte("\x1b[?1049h"), []byte("\x1b[?1049l"), []byte("\x1b[?47h"), []byte("\x1b[?1047h")}

// Snapshot is the text that brings a fresh terminal to (about) the screen the output in tail
// left: from the last full-screen clear when there is one in the last snapshotMax bytes, else
// the last snapshotTail bytes from a line start (enough lines for any screen of text; a
// full-screen program that redraws only parts of its screen may show a partial picture until its
// next full redraw). whole says tail holds all the output since the recording began.
func Snapshot(tail []byte, whole bool) []byte {
	from := -1
	window := tail[max(len(tail)-snapshotMax, 0):]
	for _, seq := range screenStarts {
		if i := bytes.LastIndex(window, seq); i > from {
			from = i
		}
	}
	if from >= 0 {
		return window[from:]
	}
	if whole && len(tail) <= snapshotTail {
		return tail
	}
	cut := tail[max(len(tail)-snapshotTail, 0):]
	if i := bytes.IndexByte(cut, '\n'); i >= 0 {
		cut = cut[i+1:]
	}
	return cut
}

// WriteSegment writes the segment [from, to) of the recording rd (whose duration is d) in the
// asciinema player's segmented form: a snapshot of the screen at from, then the events (times
// in seconds from the recording's start, whole milliseconds). A segment after the first starts
// with an empty event at from, the last ends with one at d, as the player wants; an event past
// d (the clocks differ by a hair) is put at d.
func WriteSegment(w io.Writer, rd *record.Reader, d, from, to time.Duration, last bool) error {
	h := rd.Header()
	cols, rows := max(h.Width, 1), max(h.Height, 1)
	crlf := h.Env["TERM"] == "" // as WriteAsciicast: lone LFs of a session without a pty
	var prev byte
	var tail []byte
	whole := true
	out := &bytes.Buffer{}
	var events [][]any
	var pending *record.Event // read past the skip: the first event of the segment
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if ev.Time.Truncate(time.Millisecond) >= from {
			pending = &ev
			break
		}
		switch ev.Kind {
		case record.KindOutput:
			data := ev.Data
			if crlf {
				data, prev = addCR(data, prev)
			}
			tail = append(tail, data...)
			if len(tail) > snapshotKeep {
				tail = append(tail[:0], tail[len(tail)-snapshotKeep/2:]...)
				whole = false
			}
		case record.KindResize:
			cols, rows = ev.Cols, ev.Rows
		}
	}
	snap := Snapshot(tail, whole)
	if from > 0 {
		events = append(events, []any{seconds(from), "o", ""})
	}
	// Output is gathered per 1/60 s (one frame of the player): a segment of a busy recording has
	// a few thousand events, not one per write of the target.
	var frame []byte
	var frameAt time.Duration = -1
	flush := func() {
		if frameAt >= 0 && len(frame) > 0 {
			events = append(events, []any{seconds(frameAt), "o", string(frame)})
		}
		frame, frameAt = frame[:0], -1
	}
	for ev := pending; ev != nil; {
		at := min(ev.Time.Truncate(time.Millisecond), d)
		if !last && at >= to {
			break
		}
		switch ev.Kind {
		case record.KindOutput:
			data := ev.Data
			if crlf {
				data, prev = addCR(data, prev)
			}
			if frameAt >= 0 && at-frameAt >= time.Second/60 {
				flush()
			}
			if frameAt < 0 {
				frameAt = at
			}
			frame = append(frame, data...)
		case record.KindResize:
			flush()
			events = append(events, []any{seconds(at), "r", fmt.Sprintf("%dx%d", ev.Cols, ev.Rows)})
		}
		next, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		ev = &next
	}
	flush()
	if last {
		events = append(events, []any{seconds(d), "o", ""})
	} else if len(events) == 0 { // the first segment of a recording silent at first
		events = append(events, []any{0.0, "o", ""})
	}
	enc := json.NewEncoder(out)
	if err := enc.Encode(map[string]any{"snapshot": map[string]any{"cols": cols, "rows": rows, "init": validText(snap)}, "events": events}); err != nil {
		return err
	}
	_, err := w.Write(out.Bytes())
	return err
}

// replaySegmented says whether the replay page streams this session's recording in segments:
// by its size on disk, or, when it is only in the archive bucket, by its audited size.
func (c *Console) replaySegmented(s store.Session) bool {
	if s.Recording == "" {
		return false
	}
	st, err := os.Stat(s.Recording)
	if errors.Is(err, os.ErrNotExist) && c.archived != nil {
		return s.Size >= SegmentedFrom
	}
	return err == nil && st.Size() >= SegmentedFrom
}
