package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/record"
	"gatehouse/internal/store"
)

// auditTypes lists the types of the events in the audit log of dataDir, in order.
func auditTypes(t *testing.T, dataDir string) []string {
	t.Helper()
	files, err := audit.Files(AuditDir(dataDir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var ev struct {
				Type string `json:"type"`
			}
			if json.Unmarshal([]byte(line), &ev) == nil && strings.HasPrefix(ev.Type, "recording.") {
				out = append(out, ev.Type)
			}
		}
	}
	return out
}

// TestCompactionDoneChecksTheRow: the outcome of a compaction is chained (row and
// `recording.compacted`) only when the session row holds the recording's hash (or already the
// new one); a row that holds neither gets the alarm and keeps its hash; an open row waits.
func TestCompactionDoneChecksTheRow(t *testing.T) {
	h := func(c string) string { return strings.Repeat(c, 64) }
	for _, tc := range []struct {
		name, status, rowSum, rowPath string
		wantErr                       bool
		wantEvent                     string
		wantRow                       string
	}{
		{"row holds the old hash", "closed", h("a"), "", false, "recording.compacted", h("b")},
		{"row holds the new hash", "closed", h("b"), "", false, "recording.compacted", h("b")},
		{"row holds neither", "closed", h("c"), "", false, "recording.compaction_refused", h("c")},
		{"row without a hash", "closed", "", "", false, "recording.compaction_refused", ""},
		{"interrupted row without a hash", "interrupted", "", "", false, "recording.compacted", h("b")},
		{"another recording's row", "closed", h("a"), "/elsewhere/x.ghrec", false, "recording.compaction_refused", h("a")},
		{"row still open", "open", "", "", true, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			a, err := Open(context.Background(), Options{DataDir: dir, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			ctx := context.Background()
			id, path := "0123456789abcdef01234567", filepath.Join(RecordingsDir(dir), "alice", "x.ghrec")
			rowPath := path
			if tc.rowPath != "" {
				rowPath = tc.rowPath
			}
			if err := a.Store.OpenSession(ctx, store.Session{ID: id, Account: "alice", Kind: "ssh", StartedAt: time.Now(), Status: "open", Recording: rowPath}); err != nil {
				t.Fatal(err)
			}
			if tc.status != "open" {
				if err := a.Store.CloseSession(ctx, id, func(s *store.Session) { s.Status, s.SHA256, s.Size = tc.status, tc.rowSum, 100 }); err != nil {
					t.Fatal(err)
				}
			}
			err = a.compactionDone(ctx, record.CompactResult{Outcome: record.Compacted,
				Job: record.CompactJob{ID: id, Path: path, SHA256: h("a"), Size: 100, NewSHA256: h("b"), NewSize: 10}})
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v", err)
			}
			got := auditTypes(t, dir)
			if tc.wantEvent == "" && len(got) != 0 || tc.wantEvent != "" && (len(got) != 1 || got[0] != tc.wantEvent) {
				t.Fatalf("events %v, want %q", got, tc.wantEvent)
			}
			rows, err := a.Store.ListSessions(ctx, store.SessionFilter{ID: id})
			if err != nil || len(rows) != 1 {
				t.Fatal(err, len(rows))
			}
			if rows[0].SHA256 != tc.wantRow {
				t.Fatalf("row hash %q, want %q", rows[0].SHA256, tc.wantRow)
			}
		})
	}
}

// TestCompactionWithARelativeDataDir: `--data-dir ./data` gives the recordings and the
// compaction queue absolute paths (the compaction child refuses relative ones: every job
// failed each minute, the recordings were never compacted).
func TestCompactionWithARelativeDataDir(t *testing.T) {
	t.Chdir(t.TempDir())
	a, err := Open(context.Background(), Options{DataDir: "data", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !filepath.IsAbs(a.Compactor.Queue) || !filepath.IsAbs(a.Compactor.Root) || !filepath.IsAbs(a.Tracker.Dir) {
		t.Fatalf("queue %q, root %q, recordings %q", a.Compactor.Queue, a.Compactor.Root, a.Tracker.Dir)
	}
	path := filepath.Join(a.Tracker.Dir, "alice", "x.ghrec")
	if err := a.Compactor.Enqueue(record.CompactJob{ID: "0123456789abcdef01234567", Path: path, SHA256: strings.Repeat("a", 64), Size: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(a.Compactor.Queue, "0123456789abcdef01234567.json")); err != nil {
		t.Fatal(err)
	}
}
