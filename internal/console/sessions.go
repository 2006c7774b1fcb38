package console

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse/internal/access"
	"gatehouse/internal/audit"
	"gatehouse/internal/record"
	"gatehouse/internal/store"
)

// SessionQuery is the Sessions page's filter as the user typed it.
type SessionQuery struct {
	Account, Host, Status string
	After, Before         string // 2006-01-02 or RFC 3339
	Transfer              string // "", "any", "scp", "sftp", "rsync": sessions that carried one
}

// Filter turns the query into the store's filter for the viewer: someone who does not see
// everyone gets their own sessions whatever account they typed.
func (sq SessionQuery) Filter(v Viewer) (store.SessionFilter, error) {
	f := store.SessionFilter{Host: sq.Host, Limit: 500}
	if SeesEveryone(v) {
		f.Account = sq.Account
	} else {
		f.AccountID = v.AccountID
		if f.AccountID == "" {
			return f, errors.New("no account id")
		}
	}
	var err error
	if f.After, err = parseWhen(sq.After); err != nil {
		return f, fmt.Errorf("after: %w", err)
	}
	if f.Before, err = parseWhen(sq.Before); err != nil {
		return f, fmt.Errorf("before: %w", err)
	}
	switch sq.Status {
	case "", "open", "closed", "interrupted":
	default:
		return f, fmt.Errorf("status %q: open, closed or interrupted", sq.Status)
	}
	switch sq.Transfer {
	case "":
	case "any", "scp", "sftp", "rsync":
		f.Kind = "ssh" // a transfer is always a connection's session
	default:
		return f, fmt.Errorf("transfer %q: any, scp, sftp or rsync", sq.Transfer)
	}
	return f, nil
}

// Keep says whether a row the store returned passes the filters the store does not apply.
func (sq SessionQuery) Keep(s store.Session) bool {
	if sq.Status != "" && s.Status != sq.Status {
		return false
	}
	switch tr := TransferOf(s); sq.Transfer {
	case "":
		return true
	case "any":
		return tr != ""
	default:
		return tr == sq.Transfer
	}
}

// TransferOf is the file transfer a session carried ("scp", "sftp", "rsync"), or "": read from
// its row's params, the connection's words ([user@]host [-p port] [-u user] [--] command…), by
// the same rule as the protocol grants (access.TransferOf: the remote command's first word; the
// sftp subsystem is audited as "subsystem sftp").
func TransferOf(s store.Session) string {
	if s.Kind != "ssh" {
		return ""
	}
	words := strings.Fields(s.Params)
	if len(words) == 0 {
		return ""
	}
	i := 1 // past the target
	for i < len(words) {
		switch words[i] {
		case "-p", "-u", "--port", "--user", "-l":
			i += 2
			continue
		case "--":
			i++
		}
		break
	}
	if i >= len(words) {
		return ""
	}
	cmd := strings.Join(words[i:], " ")
	if cmd == "subsystem sftp" {
		return "sftp"
	}
	switch access.TransferOf(cmd) {
	case access.ProtoSCPUp, access.ProtoSCPDown:
		return "scp"
	case access.ProtoRsync:
		return "rsync"
	}
	return ""
}

func parseWhen(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2006-01-02 or 2006-01-02T15:04)", s)
}

func (c *Console) sessionList(w http.ResponseWriter, r *http.Request, q *request) {
	v := r.URL.Query()
	sq := SessionQuery{Account: v.Get("account"), Host: v.Get("host"), Status: v.Get("status"), After: v.Get("after"), Before: v.Get("before"),
		Transfer: v.Get("transfer")}
	data := map[string]any{"Title": "Sessions", "Query": sq, "Everyone": SeesEveryone(q.Viewer)}
	f, err := sq.Filter(q.Viewer)
	if err != nil {
		data["Error"] = err.Error()
		c.render(w, r, http.StatusBadRequest, "sessions.html", q, data)
		return
	}
	rows, err := c.o.Store.ListSessions(r.Context(), f)
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "The sessions could not be listed.")
		c.o.Log.Error("console: list sessions", "err", err)
		return
	}
	kept := rows[:0]
	for _, s := range rows {
		// The store filtered already; the decision is applied to each row anyway (fail closed).
		if CanViewSession(q.Viewer, s.AccountID) && sq.Keep(s) {
			kept = append(kept, s)
		}
	}
	data["Sessions"] = kept
	c.render(w, r, http.StatusOK, "sessions.html", q, data)
}

// session loads one session the viewer may see; otherwise it answers 404 or 403 and returns false.
func (c *Console) session(w http.ResponseWriter, r *http.Request, q *request) (store.Session, bool) {
	id := r.PathValue("id")
	rows, err := c.o.Store.ListSessions(r.Context(), store.SessionFilter{ID: id, Limit: 1})
	if err != nil || len(rows) != 1 || rows[0].ID != id {
		c.fail(w, r, http.StatusNotFound, "No such session.")
		return store.Session{}, false
	}
	if !CanViewSession(q.Viewer, rows[0].AccountID) {
		_ = c.audit(r.Context(), "web.forbidden", audit.Fields{Account: q.Account.Name, Extra: map[string]string{"session": id, "path": r.URL.Path}}) // refused either way
		c.fail(w, r, http.StatusForbidden, "This session is not yours.")
		return store.Session{}, false
	}
	return rows[0], true
}

func (c *Console) replay(w http.ResponseWriter, r *http.Request, q *request) {
	s, ok := c.session(w, r, q)
	if !ok {
		return
	}
	if err := c.audit(r.Context(), "web.replay", audit.Fields{Account: q.Account.Name, Extra: map[string]string{"session": s.ID, "owner": s.Account}}); err != nil {
		// Fail closed: a replay the audit log cannot record shows nothing.
		c.fail(w, r, http.StatusServiceUnavailable, "The audit log of this bastion cannot be written right now, so the replay is refused.")
		return
	}
	c.render(w, r, http.StatusOK, "replay.html", q, map[string]any{"Title": "Replay " + s.ID, "S": s, "HasRecording": s.Recording != "", "Segmented": c.replaySegmented(s)})
}

// openRecording opens a session's recording for reading (from the disk, else from the archive
// bucket) with its size; done must be called when finished. On failure it answered the request.
func (c *Console) openRecording(w http.ResponseWriter, r *http.Request, s store.Session) (*record.Reader, int64, func(), bool) {
	if s.Recording == "" {
		c.fail(w, r, http.StatusNotFound, "This session has no recording.")
		return nil, 0, nil, false
	}
	f, size, done, err := c.openRecordingFile(r.Context(), s)
	if err != nil {
		c.o.Log.Warn("console: recording not readable", "session", s.ID, "err", err)
		c.fail(w, r, http.StatusNotFound, "The recording is not on this node nor in the archive bucket.")
		return nil, 0, nil, false
	}
	rd, err := record.NewReader(f)
	if err != nil {
		done() // the format error is the one to report
		c.fail(w, r, http.StatusUnprocessableEntity, "The recording cannot be read.")
		return nil, 0, nil, false
	}
	return rd, size, done, true
}

// cast streams the recording as asciicast v2, whatever format it is stored in: event by event,
// so that a long recording starts playing before it is all read.
func (c *Console) cast(w http.ResponseWriter, r *http.Request, q *request) {
	s, ok := c.session(w, r, q)
	if !ok {
		return
	}
	rd, _, done, ok := c.openRecording(w, r, s)
	if !ok {
		return
	}
	defer done()
	w.Header().Set("Content-Type", "application/x-asciicast")
	if err := WriteAsciicast(w, rd); err != nil {
		c.o.Log.Debug("console: cast stream", "session", s.ID, "err", err)
	}
}

// WriteAsciicast writes what rd reads as asciicast v2 (the header, then output and resize events),
// flushing as it goes when w is an http.Flusher.
func WriteAsciicast(w io.Writer, rd *record.Reader) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	h := rd.Header()
	h.Version = 2
	if h.Width <= 0 {
		h.Width = 80
	}
	if h.Height <= 0 {
		h.Height = 24
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if _, err := bw.Write(append(hb, '\n')); err != nil {
		return err
	}
	fl, _ := w.(http.Flusher)
	// A session without a pty (a command run through the bastion) sent lone LFs, which a
	// terminal's own line discipline would have turned into CRLF: without that the player draws a
	// staircase. Its recording has no TERM (sessionlog records one only with a pty).
	crlf := h.Env["TERM"] == ""
	var last byte
	n := 0
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		var line []any
		t := ev.Time.Seconds()
		switch ev.Kind {
		case record.KindOutput:
			data := ev.Data
			if crlf {
				data, last = addCR(data, last)
			}
			line = []any{t, "o", string(data)}
		case record.KindResize:
			line = []any{t, "r", fmt.Sprintf("%dx%d", ev.Cols, ev.Rows)}
		default:
			continue // input is not shown: it may hold what the terminal did not echo
		}
		b, err := json.Marshal(line)
		if err != nil {
			return err
		}
		if _, err := bw.Write(append(b, '\n')); err != nil {
			return err
		}
		if n++; n%256 == 0 && fl != nil {
			if err := bw.Flush(); err != nil {
				return err
			}
			fl.Flush()
		}
	}
	return bw.Flush()
}

// Hit is one place a searched text appears in a recording.
type Hit struct {
	Time float64 `json:"time"` // seconds from the start
	Text string  `json:"text"` // the line around it
}

const maxHits = 200

// SearchRecording finds needle (case-insensitive) in the text the recording printed, with the
// time of the output event that completed each match. Escape sequences are removed first, and
// a match may span events.
func SearchRecording(rd *record.Reader, needle string) ([]Hit, error) {
	needle = strings.ToLower(needle)
	if needle == "" {
		return nil, nil
	}
	var hits []Hit
	var line []byte // the current line of plain text
	var esc escState
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return hits, nil
		}
		if err != nil {
			return hits, err
		}
		if ev.Kind != record.KindOutput {
			continue
		}
		before := len(line)
		for _, b := range ev.Data {
			switch {
			case esc.skip(b):
			case b == '\n' || b == '\r':
				line = line[:0]
				before = 0
			case b == '\b':
				if len(line) > 0 {
					line = line[:len(line)-1]
				}
			case b >= 0x20 || b == '\t':
				line = append(line, b)
				if len(line) > 4096 { // a line without end: keep its tail
					line = append(line[:0], line[len(line)-1024:]...)
					before = 0
				}
				lower := strings.ToLower(string(line))
				// A match counts once: when it ends in this event, past where this event started.
				if strings.HasSuffix(lower, needle) && len(line)-len(needle) >= 0 && len(line) > before {
					if len(hits) == maxHits {
						return hits, nil
					}
					hits = append(hits, Hit{Time: ev.Time.Seconds(), Text: validText(line)})
				}
			}
		}
	}
}

func validText(b []byte) string {
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	return s
}

// escState skips ANSI escape sequences (CSI, OSC and two-byte escapes) in a byte stream.
type escState struct{ mode byte } // 0 text, 1 after ESC, 2 CSI, 3 OSC, 4 OSC after ESC

func (e *escState) skip(b byte) bool {
	switch e.mode {
	case 1:
		switch b {
		case '[':
			e.mode = 2
		case ']':
			e.mode = 3
		default:
			e.mode = 0
		}
		return true
	case 2:
		if b >= 0x40 && b <= 0x7e {
			e.mode = 0
		}
		return true
	case 3:
		if b == 0x07 {
			e.mode = 0
		} else if b == 0x1b {
			e.mode = 4
		}
		return true
	case 4:
		e.mode = 0
		return true
	}
	if b == 0x1b {
		e.mode = 1
		return true
	}
	return false
}

func (c *Console) search(w http.ResponseWriter, r *http.Request, q *request) {
	s, ok := c.session(w, r, q)
	if !ok {
		return
	}
	needle := r.URL.Query().Get("q")
	if len(needle) > 200 {
		http.Error(w, "search text too long (200 bytes at most)", http.StatusBadRequest)
		return
	}
	rd, _, done, ok := c.openRecording(w, r, s)
	if !ok {
		return
	}
	defer done()
	hits, err := SearchRecording(rd, needle)
	if err != nil {
		c.o.Log.Debug("console: search", "session", s.ID, "err", err)
	}
	if hits == nil {
		hits = []Hit{}
	}
	w.Header().Set("Content-Type", "application/json")
	// The headers are sent: a failed write means the browser left, nothing to tell it.
	_ = json.NewEncoder(w).Encode(hits)
}

// addCR turns every LF not preceded by CR into CRLF; prev is the byte before p (the previous
// event's last), and the new last byte is returned for the next event.
func addCR(p []byte, prev byte) ([]byte, byte) {
	if len(p) == 0 {
		return p, prev
	}
	out := make([]byte, 0, len(p)+len(p)/16+1)
	for _, b := range p {
		if b == '\n' && prev != '\r' {
			out = append(out, '\r')
		}
		out = append(out, b)
		prev = b
	}
	return out, prev
}
