package sessionlog

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/record"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

// flakyAudit fails the first failN appends of type failType, then records every event.
type flakyAudit struct {
	mu       sync.Mutex
	failType string
	failN    int
	events   []audit.Event
}

func (a *flakyAudit) Append(ev audit.Event) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ev.Type == a.failType && a.failN > 0 {
		a.failN--
		return errors.New("disk full")
	}
	a.events = append(a.events, ev)
	return nil
}

func (a *flakyAudit) types() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, ev := range a.events {
		out = append(out, ev.Type)
	}
	return out
}

// flakyRecords fails the first failN CloseSession calls, then is a memRecords.
type flakyRecords struct {
	memRecords
	fmu   sync.Mutex
	failN int
}

func (m *flakyRecords) CloseSession(ctx context.Context, id string, fn func(*store.Session)) error {
	m.fmu.Lock()
	fail := m.failN > 0
	if fail {
		m.failN--
	}
	m.fmu.Unlock()
	if fail {
		return errors.New("database away")
	}
	return m.memRecords.CloseSession(ctx, id, fn)
}

// TestCompactionAfterTheClose: when the session's close (its row, its audit event) fails and is
// written again later, the recording is queued for compaction only once both are written, so
// `recording.compacted` never comes before `session.close` in the audit log, and the archive
// is told of the file once (after).
func TestCompactionAfterTheClose(t *testing.T) {
	for _, tc := range []struct {
		name                string
		auditFails, rowFail int
	}{
		{"audit fails twice", 2, 0},
		{"row fails twice", 0, 2},
		{"both fail", 1, 3},
		{"nothing fails", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			au := &flakyAudit{failType: "session.close", failN: tc.auditFails}
			rows := &flakyRecords{memRecords: memRecords{rows: map[string]store.Session{}}, failN: tc.rowFail}
			tr, _ := newTracker(t, nil)
			tick := make(chan time.Time)
			tr.Audit, tr.Store, tr.retryTick = au, rows, tick
			tr.Policy = func() Policy { return Policy{Format: record.Gatehouse} }
			c := &record.Compactor{Queue: filepath.Join(t.TempDir(), "queue"), Defer: &record.Deferral{Budget: 1 << 40},
				Done: func(_ context.Context, r record.CompactResult) error {
					return au.Append(audit.Event{Type: "recording." + string(r.Outcome)})
				}}
			if err := c.Open(); err != nil {
				t.Fatal(err)
			}
			tr.Compact = c
			closed := make(chan string, 2)
			tr.OnClosed = func(p, _ string, _ int64) { closed <- p }
			s := testSession()
			track, err := tr.Begin(context.Background(), s, session.Line{Raw: "--osh info", Request: session.Request{Osh: "info"}})
			if err != nil {
				t.Fatal(err)
			}
			text := textLines(3 << 20)
			for p := text; len(p) > 0; p = p[min(len(p), 32<<10):] {
				if _, err := track.Recorder().Write(p[:min(len(p), 32<<10)]); err != nil {
					t.Fatal(err)
				}
			}
			track.End(context.Background(), s, session.Outcome{Kind: "osh"}, 0)
			// A compactor pass right after End (the compactor is woken by the queue): before
			// the fix it compacted the file and audited it before the close was written.
			if err := c.Pass(context.Background()); err != nil {
				t.Fatal(err)
			}
			var p string
			for p == "" { // the close is written (at once, or by the retries)
				select {
				case p = <-closed:
				case tick <- time.Now():
				}
			}
			if err := c.Pass(context.Background()); err != nil {
				t.Fatal(err)
			}
			if c.Held(p) {
				t.Fatal("still queued after a pass")
			}
			got := au.types()
			want := []string{"session.open", "session.close", "recording.compacted"}
			if len(got) != len(want) {
				t.Fatalf("audit log %v, want %v", got, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("audit log %v, want %v", got, want)
				}
			}
			rows.mu.Lock()
			defer rows.mu.Unlock()
			for _, r := range rows.rows {
				if r.Status != "closed" {
					t.Fatalf("row %+v", r)
				}
			}
			select {
			case p2 := <-closed:
				t.Fatalf("the archive was told twice (%s)", p2)
			default:
			}
		})
	}
}

// TestInterruptedNotQueuedUnaudited: the recording of a session a dead gatehouse left is queued
// for compaction only when its session.interrupted event (the hash the compaction chains) is
// written.
func TestInterruptedNotQueuedUnaudited(t *testing.T) {
	dir := t.TempDir()
	rec, path, err := record.Create(filepath.Join(dir, "alice"), "x.ghrec", record.Options{Format: record.Gatehouse, Defer: &record.Deferral{Budget: 1 << 40}})
	if err != nil {
		t.Fatal(err)
	}
	text := textLines(3 << 20)
	for p := text; len(p) > 0; p = p[min(len(p), 32<<10):] {
		rec.Output(p[:min(len(p), 32<<10)])
	}
	if _, _, err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	au := &memAudit{fail: true}
	tr, _ := newTracker(t, au)
	tr.Store = &interruptedRecords{memRecords: memRecords{rows: map[string]store.Session{}}, open: store.Session{ID: "abcdefabcdefabcdefabcdef", Account: "alice", Recording: path}}
	c, _ := testCompactor(t)
	tr.Compact = c
	if err := tr.Interrupted(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.Held(path) {
		t.Fatal("queued for compaction without its session.interrupted event")
	}
}
