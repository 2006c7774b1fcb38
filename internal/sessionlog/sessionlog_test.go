package sessionlog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/record"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

type memRecords struct {
	mu   sync.Mutex
	rows map[string]store.Session
}

func (m *memRecords) OpenSession(_ context.Context, s store.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows[s.ID] = s
	return nil
}

func (m *memRecords) CloseSession(_ context.Context, id string, fn func(*store.Session)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rows[id]
	fn(&r)
	m.rows[id] = r
	return nil
}

func (m *memRecords) MarkInterrupted(context.Context, time.Time) ([]store.Session, error) {
	return nil, nil
}

type memAudit struct {
	fail   bool
	events []audit.Event
}

func (a *memAudit) Append(ev audit.Event) error {
	if a.fail {
		return errors.New("disk full")
	}
	a.events = append(a.events, ev)
	return nil
}

func newTracker(t *testing.T, au *memAudit) (*Tracker, *memRecords) {
	t.Helper()
	rows := &memRecords{rows: map[string]store.Session{}}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &Tracker{Store: rows, Audit: au, Dir: t.TempDir(), Policy: func() Policy { return Policy{Format: record.Asciicast} },
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return now }}, rows
}

func testSession() *session.Session {
	addr := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 40000}
	return &session.Session{Account: store.Account{ID: "id-alice", Name: "alice"}, RemoteAddr: addr, LocalAddr: addr, Cols: 80, Rows: 24}
}

// TestTrackerBeginEnd: Begin reads the parsed line and writes nothing into the session; End
// completes the row and the audit log from the outcome it is given.
func TestTrackerBeginEnd(t *testing.T) {
	au := &memAudit{}
	tr, rows := newTracker(t, au)
	s := testSession()
	ln := session.Line{Raw: "root@10.0.0.5 -- uptime", Words: []string{"root@10.0.0.5", "--", "uptime"},
		Request: session.Request{User: "root", Host: "10.0.0.5", RemoteCommand: []string{"uptime"}}}
	before := *s
	track, err := tr.Begin(context.Background(), s, ln)
	if err != nil {
		t.Fatal(err)
	}
	if s.ID != before.ID || s.Out != nil || s.PauseRecording != nil {
		t.Fatalf("Begin wrote into the session: %+v", s)
	}
	id := track.ID()
	row, ok := rows.rows[id]
	if id == "" || !ok || row.Kind != "ssh" || row.Host != "10.0.0.5" || row.User != "root" || row.AccountID != "id-alice" {
		t.Fatalf("row %+v (id %q)", row, id)
	}
	if _, err := track.Recorder().Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	track.End(context.Background(), s, session.Outcome{Kind: "ssh", Allowed: true, Host: "10.0.0.5", IPTo: "10.0.0.5", PortTo: 22, BytesOut: 6}, 0)
	row = rows.rows[id]
	if row.Status != "closed" || !row.Allowed || row.IPTo != "10.0.0.5" || row.BytesOut != 6 || row.SHA256 == "" {
		t.Fatalf("closed row %+v", row)
	}
	if len(au.events) != 2 || au.events[0].Type != "session.open" || au.events[1].Type != "session.close" ||
		au.events[1].Fields.UniqID != id || au.events[1].Fields.RecordingSHA256 != row.SHA256 {
		t.Fatalf("audit %+v", au.events)
	}
	if _, err := os.Stat(row.Recording); err != nil {
		t.Fatalf("recording: %v", err)
	}
}

// TestTrackerKindFromTheLine: without an outcome kind, the row keeps the kind of the parsed line.
func TestTrackerKindFromTheLine(t *testing.T) {
	for _, tc := range []struct {
		req  session.Request
		kind string
	}{
		{session.Request{Osh: "info"}, "osh"},
		{session.Request{Host: "h"}, "ssh"},
		{session.Request{Interactive: true}, "interactive"},
		{session.Request{}, "interactive"},
	} {
		au := &memAudit{}
		tr, rows := newTracker(t, au)
		track, err := tr.Begin(context.Background(), testSession(), session.Line{Request: tc.req})
		if err != nil {
			t.Fatal(err)
		}
		track.End(context.Background(), testSession(), session.Outcome{}, 0)
		if got := rows.rows[track.ID()].Kind; got != tc.kind || au.events[1].Fields.CmdType != tc.kind {
			t.Errorf("%+v: kind %q (audit %q), want %q", tc.req, got, au.events[1].Fields.CmdType, tc.kind)
		}
	}
}

// TestTrackerRefusesWhatItCannotAudit: a failing audit log refuses the session (fail closed).
func TestTrackerRefusesWhatItCannotAudit(t *testing.T) {
	tr, _ := newTracker(t, &memAudit{fail: true})
	if _, err := tr.Begin(context.Background(), testSession(), session.Line{Request: session.Request{Osh: "info"}}); err == nil {
		t.Fatal("Begin accepted a session the audit log refused")
	}
}
