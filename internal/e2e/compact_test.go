package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/app"
	"gatehouse/internal/archive"
	"gatehouse/internal/record"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// logText is n bytes of syslog-like lines (random pids, addresses, ids): text the recorder
// stores as is while it streams and the compactor compresses after.
func logText(n int) []byte {
	r := rand.New(rand.NewPCG(16, 14))
	var b bytes.Buffer
	for b.Len() < n {
		fmt.Fprintf(&b, "Dec  2 18:%02d:%02d.%06d web-%02d app[%d]: level=info msg=\"request done\" request_id=%016x user=%s status=%d\n",
			r.IntN(60), r.IntN(60), r.IntN(1000000), r.IntN(4), r.IntN(65536), r.Uint64(),
			[]string{"root", "deploy", "alice", "bob"}[r.IntN(4)], []int{200, 200, 304, 404}[r.IntN(4)])
	}
	return b.Bytes()[:n]
}

// TestCompactionChainsTheAuditedHash: a log pulled through the bastion is recorded as is, then
// compacted once the session is closed: the audit log's `recording.compacted` event chains the
// hash of session.close (old_sha256) to the file now on disk (`sha256sum FILE`), the session row
// holds the new hash and size, the archive ships the compacted file (not the raw one), and a
// replay from the bucket (the local file gone) plays the log. The file work runs in a child
// process, as under `gatehouse serve` (the other compaction tests run it in process).
func TestCompactionChainsTheAuditedHash(t *testing.T) {
	s3 := testenv.StartS3(t)
	newBucket(t, s3, "gh-archive")
	b := testenv.Start(t, testenv.Options{Node: "n1", Config: archiveTOML(s3, ""), CompactWorker: compactChild()})
	cl, err := archive.NewClient(b.App.Config().Archive)
	if err != nil {
		t.Fatal(err)
	}
	sshd, aliceKey := targetSetup(t, b)
	payload := logText(4 << 20)
	src := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(src, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	r := b.SSH(aliceKey, "alice", sshd.User+"@127.0.0.1", "-p", fmt.Sprint(sshd.Port), "--", "cat "+src)
	if r.Exit != 0 || r.Stdout != string(payload) {
		t.Fatalf("cat through the bastion: exit %d, %d bytes of %d (%q)", r.Exit, len(r.Stdout), len(payload), r.Stderr)
	}
	row := closedSession(t, b, "alice", "cat "+src)
	var closeSum string
	var closeSize float64
	for _, e := range auditEntries(t, b, "session.close") {
		if f := e["fields"].(map[string]any); f["uniqid"] == row.ID {
			closeSum, _ = f["recording_sha256"].(string)
			closeSize, _ = f["recording_size"].(float64)
		}
	}
	if closeSum == "" || closeSize < float64(len(payload))/2 {
		t.Fatalf("session.close of %s: sha256 %q, size %.0f (the log was %d bytes: stored as is, it should be near that)", row.ID, closeSum, closeSize, len(payload))
	}
	var compacted map[string]any
	eventually(t, "the recording.compacted event", func() bool {
		for _, e := range auditEntries(t, b, "recording.compacted") {
			if f := e["fields"].(map[string]any); f["uniqid"] == row.ID {
				compacted = f
				return true
			}
		}
		return false
	})
	extra, _ := compacted["extra"].(map[string]any)
	newSum, _ := compacted["recording_sha256"].(string)
	newSize, _ := compacted["recording_size"].(float64)
	if extra["old_sha256"] != closeSum || extra["old_size"] != fmt.Sprint(int64(closeSize)) {
		t.Fatalf("recording.compacted does not chain to session.close: %v (close: %s, %.0f)", compacted, closeSum, closeSize)
	}
	onDisk := sha256File(t, row.Recording)
	// This log holds more random hex per line than the relay bench's (0.32× there).
	if newSum != onDisk || newSize > 0.4*float64(len(payload)) {
		t.Fatalf("recording.compacted says %s, %.0f bytes; the file has %s (the log: %d bytes)", newSum, newSize, onDisk, len(payload))
	}
	rows := closedSession(t, b, "alice", "cat "+src)
	if rows.SHA256 != newSum || float64(rows.Size) != newSize {
		t.Fatalf("the session row holds %s, %d bytes, not the compacted file's", rows.SHA256, rows.Size)
	}
	f, err := os.Open(row.Recording)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := record.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for ev, err := rd.Next(); err == nil; ev, err = rd.Next() {
		if ev.Kind == record.KindOutput {
			out = append(out, ev.Data...)
		}
	}
	f.Close()
	if !bytes.HasSuffix(out, payload) {
		t.Fatalf("the compacted recording replays %d bytes, not the log", len(out))
	}
	// The archive ships the compacted file.
	eventually(t, "the compacted recording in the bucket", func() bool { return objectSHA(cl.S3, cl.RecordingKey("n1", row.Recording)) == newSum })
	// Gone from the disk: it plays from the bucket, checked against the row's (new) hash.
	if err := os.Remove(row.Recording); err != nil {
		t.Fatal(err)
	}
	line := string(payload[:bytes.IndexByte(payload, '\n')])
	if r := b.SSH(aliceKey, "alice", "--osh", "selfPlaySession", "--id", row.ID, "--speed", "100"); r.Exit != 0 || !strings.Contains(r.Stdout, line) {
		t.Fatalf("play from the bucket: %d (%d bytes) %q", r.Exit, len(r.Stdout), r.Stderr)
	}
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(data))
}

// TestCompactionRefusesATamperedRecording: a queued recording changed on disk after its close
// is not compacted: it stays byte for byte, and the audit log gets a
// `recording.compaction_refused` alert with the audited and the found hash.
func TestCompactionRefusesATamperedRecording(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	dir := filepath.Join(app.RecordingsDir(b.DataDir), "alice")
	rec, path, err := record.Create(dir, "tampered.ghrec", record.Options{Format: record.Gatehouse, Defer: b.App.Compactor.Defer})
	if err != nil {
		t.Fatal(err)
	}
	payload := logText(2 << 20)
	for p := payload; len(p) > 0; p = p[min(len(p), 32<<10):] {
		rec.Output(p[:min(len(p), 32<<10)])
	}
	sum, size, err := rec.Close()
	if err != nil {
		t.Fatal(err)
	}
	deferred := record.DeferredBytes(rec)
	if deferred == 0 {
		t.Fatal("nothing deferred: the test would not reach the compactor's check")
	}
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 0x20
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	found := sha256File(t, path)
	const id = "c0ffee00c0ffee00c0ffee00"
	if err := b.App.Compactor.Enqueue(record.CompactJob{ID: id, Path: path, SHA256: sum, Size: size, Deferred: deferred}); err != nil {
		t.Fatal(err)
	}
	var alert map[string]any
	eventually(t, "the recording.compaction_refused alert", func() bool {
		for _, e := range auditEntries(t, b, "recording.compaction_refused") {
			if f := e["fields"].(map[string]any); f["uniqid"] == id {
				alert = f
				return true
			}
		}
		return false
	})
	extra, _ := alert["extra"].(map[string]any)
	if alert["recording_sha256"] != sum || extra["found_sha256"] != found || extra["path"] != path {
		t.Fatalf("alert %v; audited %s, found %s", alert, sum, found)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Fatal("a tampered recording was rewritten")
	}
	if len(auditEntries(t, b, "recording.compacted")) != 0 {
		t.Fatal("a tampered recording was compacted")
	}
	// Counted once the outcome is recorded (just after the audit event).
	eventually(t, "gatehouse_recording_compactions_total{outcome=refused} 1", func() bool {
		mfs, _ := b.App.Metrics.Registry.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "gatehouse_recording_compactions_total" {
				for _, m := range mf.GetMetric() {
					if m.GetLabel()[0].GetValue() == "refused" {
						return m.GetCounter().GetValue() == 1
					}
				}
			}
		}
		return false
	})
}

// TestCompactionAfterRestart: a compaction a dead gatehouse left (its marker in DATA_DIR/compact,
// a torn temporary copy beside the recording) is found at the next start: the copy is removed,
// the recording compacted, `recording.compacted` audited with the hash of the file now on disk.
func TestCompactionAfterRestart(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	rec, path, err := record.Create(filepath.Join(app.RecordingsDir(dataDir), "alice"), "left.ghrec",
		record.Options{Format: record.Gatehouse, Defer: &record.Deferral{Budget: 1 << 40}})
	if err != nil {
		t.Fatal(err)
	}
	payload := logText(2 << 20)
	for p := payload; len(p) > 0; p = p[min(len(p), 32<<10):] {
		rec.Output(p[:min(len(p), 32<<10)])
	}
	sum, size, err := rec.Close()
	if err != nil {
		t.Fatal(err)
	}
	const id = "feedface0000feedface0000"
	// The session's row, closed with the hash its session.close audited: the compaction is
	// chained only when the row vouches for it (record.DecideCompaction).
	prev, err := app.Open(context.Background(), app.Options{DataDir: dataDir, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := prev.Store.OpenSession(context.Background(), store.Session{ID: id, Account: "alice", Kind: "ssh",
		StartedAt: time.Now(), Status: "open", Recording: path}); err != nil {
		t.Fatal(err)
	}
	if err := prev.Store.CloseSession(context.Background(), id, func(s *store.Session) {
		s.Status, s.EndedAt, s.SHA256, s.Size = "closed", time.Now(), sum, size
	}); err != nil {
		t.Fatal(err)
	}
	if err := prev.Close(); err != nil {
		t.Fatal(err)
	}
	job, _ := json.Marshal(record.CompactJob{ID: id, Path: path, SHA256: sum, Size: size, Deferred: record.DeferredBytes(rec)})
	queue := app.CompactQueueDir(dataDir)
	if err := os.MkdirAll(queue, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(queue, id+".json"), job, 0o600); err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(filepath.Dir(path), ".left.ghrec.compacting")
	if err := os.WriteFile(torn, []byte("GHREC\x00\x01\ntorn"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := testenv.Start(t, testenv.Options{DataDir: dataDir})
	var done map[string]any
	eventually(t, "the recording.compacted event", func() bool {
		for _, e := range auditEntries(t, b, "recording.compacted") {
			if f := e["fields"].(map[string]any); f["uniqid"] == id {
				done = f
				return true
			}
		}
		return false
	})
	if done["recording_sha256"] != sha256File(t, path) || done["extra"].(map[string]any)["old_sha256"] != sum {
		t.Fatalf("recording.compacted %v; the file has %s", done, sha256File(t, path))
	}
	if rows, err := b.App.Store.ListSessions(context.Background(), store.SessionFilter{ID: id}); err != nil || len(rows) != 1 || rows[0].SHA256 != done["recording_sha256"] {
		t.Fatalf("the row after the compaction: %v %+v", err, rows)
	}
	if _, err := os.Stat(torn); !os.IsNotExist(err) {
		t.Fatalf("the torn copy stays: %v", err)
	}
	if ents, _ := os.ReadDir(queue); len(ents) != 0 {
		t.Fatalf("%d files left in the queue", len(ents))
	}
}
