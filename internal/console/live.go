package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/ingress"
	"gatehouse/internal/session"
)

// Live lets auditors watch running sessions. It wraps the session tracker: after the tracker
// (which records) has wrapped a session's writers, Live adds a tee that hands what the user sees
// to the session's watchers, if any. A session nobody watches costs one small entry here; the
// tee never blocks the session (a watcher too slow loses output, and is told so).
type Live struct {
	Inner ingress.Tracker
	// Stealth reports whether a session line's output is not recorded (its stdout stealth):
	// watchers are not shown what the recording leaves out.
	Stealth func(line string) bool
	// Tell reports whether the watched person is told in their terminal (config).
	Tell func() bool

	mu       sync.Mutex
	sessions map[string]*liveSession
}

type liveSession struct {
	ownerID string
	tell    io.Writer // the user's terminal, outside the recording
	mu      sync.Mutex
	paused  bool
	subs    map[chan []byte]struct{}
}

var _ ingress.Tracker = (*Live)(nil)

// Begin runs the inner tracker, then tees what it records to the session's watchers: ingress
// writes the session's output to the track's Recorder, so watchers see exactly what is recorded.
func (l *Live) Begin(ctx context.Context, s *session.Session, line session.Line) (ingress.SessionTrack, error) {
	tell := s.Err // the user's terminal: ingress adds the recorder to it after Begin
	tr, err := l.Inner.Begin(ctx, s, line)
	if err != nil || tr == nil || tr.ID() == "" || (l.Stealth != nil && l.Stealth(line.Raw)) {
		return tr, err
	}
	id := tr.ID()
	ls := &liveSession{ownerID: s.Account.ID, tell: tell, subs: map[chan []byte]struct{}{}}
	l.mu.Lock()
	if l.sessions == nil {
		l.sessions = map[string]*liveSession{}
	}
	l.sessions[id] = ls
	l.mu.Unlock()
	return liveTrack{SessionTrack: tr, ls: ls, end: func() { l.end(id) }}, nil
}

type liveTrack struct {
	ingress.SessionTrack
	ls  *liveSession
	end func()
}

// Recorder copies what is recorded to the watchers too.
func (t liveTrack) Recorder() io.Writer {
	return io.MultiWriter(t.SessionTrack.Recorder(), teeWriter{t.ls})
}

// InputRecorder is the inner track's (a transfer's uploads under transferRecording = "full");
// watchers are not shown input.
func (t liveTrack) InputRecorder() io.Writer {
	if ir, ok := t.SessionTrack.(ingress.InputRecording); ok {
		return ir.InputRecorder()
	}
	return nil
}

// RecordingFailure is the inner track's: a relayed session whose recording failed ends, with
// its reason told to the user (ingress.RecordingFailure).
func (t liveTrack) RecordingFailure() (reason string, exit int, failed bool) {
	if f, ok := t.SessionTrack.(ingress.RecordingFailure); ok {
		return f.RecordingFailure()
	}
	return "", 0, false
}

// Pause: what is not recorded (a secret a command prints) is not shown to watchers either.
func (t liveTrack) Pause(paused bool) {
	t.SessionTrack.Pause(paused)
	t.ls.mu.Lock()
	t.ls.paused = paused
	t.ls.mu.Unlock()
}

func (t liveTrack) End(ctx context.Context, s *session.Session, o session.Outcome, exitStatus int) {
	t.end()
	t.SessionTrack.End(ctx, s, o, exitStatus)
}

func (l *Live) end(id string) {
	l.mu.Lock()
	ls := l.sessions[id]
	delete(l.sessions, id)
	l.mu.Unlock()
	if ls == nil {
		return
	}
	ls.mu.Lock()
	for ch := range ls.subs {
		close(ch)
	}
	ls.subs = nil
	ls.mu.Unlock()
}

type teeWriter struct{ ls *liveSession }

func (w teeWriter) Write(p []byte) (int, error) {
	w.ls.mu.Lock()
	defer w.ls.mu.Unlock()
	if w.ls.paused || len(w.ls.subs) == 0 {
		return len(p), nil
	}
	b := append([]byte(nil), p...)
	for ch := range w.ls.subs {
		select {
		case ch <- b:
		default: // a slow watcher loses output; the session never waits
		}
	}
	return len(p), nil
}

// watch subscribes to a running session; ok is false when it is not running here.
func (l *Live) watch(id string) (ownerID string, ch chan []byte, tell io.Writer, cancel func(), ok bool) {
	l.mu.Lock()
	ls := l.sessions[id]
	l.mu.Unlock()
	if ls == nil {
		return "", nil, nil, nil, false
	}
	ch = make(chan []byte, 256)
	ls.mu.Lock()
	if ls.subs == nil { // ended meanwhile
		ls.mu.Unlock()
		return "", nil, nil, nil, false
	}
	ls.subs[ch] = struct{}{}
	ls.mu.Unlock()
	cancel = func() {
		ls.mu.Lock()
		if _, ok := ls.subs[ch]; ok {
			delete(ls.subs, ch)
			close(ch)
		}
		ls.mu.Unlock()
	}
	return ls.ownerID, ch, ls.tell, cancel, true
}

// CanWatch decides live watching: auditors and admins, as for replays of others' sessions.
func CanWatch(v Viewer) bool { return SeesEveryone(v) }

func (c *Console) livePage(w http.ResponseWriter, r *http.Request, q *request) {
	if !CanWatch(q.Viewer) {
		c.fail(w, r, http.StatusForbidden, "Watching sessions is for auditors and admins.")
		return
	}
	s, ok := c.session(w, r, q)
	if !ok {
		return
	}
	c.render(w, r, http.StatusOK, "live.html", q, map[string]any{"Title": "Live " + s.ID, "S": s})
}

// liveStream is the server-sent events of a running session: each event's data is a JSON
// string of what the user's terminal received.
func (c *Console) liveStream(w http.ResponseWriter, r *http.Request, q *request) {
	if !CanWatch(q.Viewer) || c.o.Live == nil {
		c.fail(w, r, http.StatusForbidden, "Watching sessions is for auditors and admins.")
		return
	}
	s, ok := c.session(w, r, q)
	if !ok {
		return
	}
	_, ch, tell, cancel, ok := c.o.Live.watch(s.ID)
	if !ok {
		c.fail(w, r, http.StatusNotFound, "This session is not running on this node.")
		return
	}
	defer cancel()
	fl, _ := w.(http.Flusher)
	if err := c.audit(r.Context(), "web.watch", audit.Fields{Account: q.Account.Name, Extra: map[string]string{"session": s.ID, "owner": s.Account}}); err != nil {
		// Fail closed: a watch the audit log cannot record shows nothing.
		c.fail(w, r, http.StatusServiceUnavailable, "The audit log of this bastion cannot be written right now, so watching is refused.")
		return
	}
	if c.o.Live.Tell == nil || c.o.Live.Tell() {
		fmt.Fprintf(tell, "\r\n[gatehouse: %s is watching this session from the web console]\r\n", q.Account.Name)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": watching\n\n")
	if fl != nil {
		fl.Flush()
	}
	keep := time.NewTicker(15 * time.Second)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			_ = c.audit(context.WithoutCancel(r.Context()), "web.watch_end", audit.Fields{Account: q.Account.Name, Extra: map[string]string{"session": s.ID}}) // after the fact: the log counts and alerts a failure
			return
		case <-keep.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case b, open := <-ch:
			if !open {
				fmt.Fprint(w, "event: end\ndata: \"\"\n\n")
				if fl != nil {
					fl.Flush()
				}
				return
			}
			j, _ := json.Marshal(string(b))
			fmt.Fprintf(w, "data: %s\n\n", j)
		}
		if fl != nil {
			fl.Flush()
		}
	}
}
