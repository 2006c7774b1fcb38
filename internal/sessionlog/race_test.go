package sessionlog

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/record"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

// lockedAudit is an Auditor safe for the recorder's worker and the test at once.
type lockedAudit struct {
	mu     sync.Mutex
	events []audit.Event
	got    chan struct{}
}

func (a *lockedAudit) Append(ev audit.Event) error {
	a.mu.Lock()
	a.events = append(a.events, ev)
	a.mu.Unlock()
	if ev.Type == "recording.failed" {
		close(a.got)
	}
	return nil
}

// TestRecordingFailedRightAfterCreateNoRace: a recording that fails at once (its worker calls
// OnError as soon as the recorder exists, before Begin returns) reads the track's path while
// Begin is still filling the track in. Run under -race: the path is written before the recorder
// exists (was: written after Create returned, a data race with recordingFailed's read). The
// failure is audited and logged with the recording's real path.
func TestRecordingFailedRightAfterCreateNoRace(t *testing.T) {
	au := &lockedAudit{got: make(chan struct{})}
	var logged strings.Builder
	var logMu sync.Mutex
	rows := &memRecords{rows: map[string]store.Session{}}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tr := &Tracker{Store: rows, Audit: au, Dir: t.TempDir(), Policy: func() Policy { return Policy{Format: record.Asciicast} },
		Log: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logged}, nil)), Now: func() time.Time { return now }}
	var created string
	tr.create = func(dir, name string, opts record.Options) (record.Recorder, string, error) {
		rec, path, err := record.Create(dir, name, opts)
		created = path
		// The worker's failure, unordered with what Begin does after Create returns.
		go opts.OnError(errors.New("no space left on device"))
		return rec, path, err
	}
	s := testSession()
	ln := session.Line{Raw: "root@10.0.0.5", Words: []string{"root@10.0.0.5"}, Request: session.Request{User: "root", Host: "10.0.0.5"}}
	track, err := tr.Begin(context.Background(), s, ln)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-au.got:
	case <-time.After(10 * time.Second):
		t.Fatal("the recording's failure was never audited")
	}
	if _, err := track.Recorder().Write([]byte("after")); !errors.Is(err, errRecordingFailed) {
		t.Fatalf("a relayed session's stream after its recording failed: %v", err)
	}
	track.End(context.Background(), s, session.Outcome{Kind: "ssh"}, 0)
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logged.String(), "path="+created) {
		t.Fatalf("the failure's log line does not name the recording %q: %s", created, logged.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
