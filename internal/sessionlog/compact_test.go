package sessionlog

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/internal/record"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

// interruptedRecords is a store whose one open session a dead gatehouse left.
type interruptedRecords struct {
	memRecords
	open store.Session
}

func (m *interruptedRecords) MarkInterrupted(context.Context, time.Time) ([]store.Session, error) {
	return []store.Session{m.open}, nil
}

func textLines(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "Dec  2 19:%02d:%02d web-01 app[%d]: level=info msg=\"request done\" id=%08x\n", i/60%60, i%60, i*7919%65536, i*2654435761)
	}
	return b.Bytes()[:n]
}

func testCompactor(t *testing.T) (*record.Compactor, *[]record.CompactResult) {
	t.Helper()
	var results []record.CompactResult
	c := &record.Compactor{Queue: filepath.Join(t.TempDir(), "queue"), Defer: &record.Deferral{Budget: 1 << 40},
		Done: func(_ context.Context, r record.CompactResult) error { results = append(results, r); return nil }}
	if err := c.Open(); err != nil {
		t.Fatal(err)
	}
	return c, &results
}

// TestTrackerQueuesCompaction: a closed session whose recording stored streaming text as is is
// queued to the compactor before the archive hears of it (which then waits for it); a session
// that stored nothing as is (a few lines) is not queued.
func TestTrackerQueuesCompaction(t *testing.T) {
	au := &memAudit{}
	tr, _ := newTracker(t, au)
	tr.Policy = func() Policy { return Policy{Format: record.Gatehouse} }
	c, results := testCompactor(t)
	tr.Compact = c
	heldAtClose := map[string]bool{}
	tr.OnClosed = func(p, _ string, _ int64) { heldAtClose[p] = c.Held(p) }
	for _, n := range []int{3 << 20, 100} {
		s := testSession()
		track, err := tr.Begin(context.Background(), s, session.Line{Raw: "--osh info", Request: session.Request{Osh: "info"}})
		if err != nil {
			t.Fatal(err)
		}
		text := textLines(n)
		for p := text; len(p) > 0; p = p[min(len(p), 32<<10):] {
			if _, err := track.Recorder().Write(p[:min(len(p), 32<<10)]); err != nil {
				t.Fatal(err)
			}
		}
		track.End(context.Background(), s, session.Outcome{Kind: "osh"}, 0)
	}
	if len(heldAtClose) != 2 {
		t.Fatalf("OnClosed told of %d recordings", len(heldAtClose))
	}
	queued := 0
	for _, held := range heldAtClose {
		if held {
			queued++
		}
	}
	if queued != 1 {
		t.Fatalf("%d recordings held for compaction at their close, want the streaming one", queued)
	}
	if err := c.Pass(context.Background()); err != nil || len(*results) != 1 || (*results)[0].Outcome != record.Compacted {
		t.Fatalf("%v %+v", err, *results)
	}
}

// TestInterruptedRecordingQueued: the gatehouse recording of a session a dead gatehouse left is
// queued with the hash its session.interrupted event gives, and compacted.
func TestInterruptedRecordingQueued(t *testing.T) {
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
	au := &memAudit{}
	tr, _ := newTracker(t, au)
	st := &interruptedRecords{memRecords: memRecords{rows: map[string]store.Session{}}, open: store.Session{ID: "abcdefabcdefabcdefabcdef", Account: "alice", Recording: path}}
	tr.Store = st
	c, results := testCompactor(t)
	tr.Compact = c
	if err := tr.Interrupted(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(au.events) != 1 || !c.Held(path) {
		t.Fatalf("%d events, held %v", len(au.events), c.Held(path))
	}
	if err := c.Pass(context.Background()); err != nil || len(*results) != 1 || (*results)[0].Outcome != record.Compacted ||
		(*results)[0].Job.SHA256 != au.events[0].Fields.RecordingSHA256 {
		t.Fatalf("%v %+v", err, *results)
	}
}
