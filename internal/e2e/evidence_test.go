package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/record"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// auditEntries returns the audit log's events of type typ, decoded.
func auditEntries(t *testing.T, b *testenv.Bastion, typ string) []map[string]any {
	t.Helper()
	files, err := audit.Files(filepath.Join(b.DataDir, "audit"))
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, f := range files {
		body, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(body), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["type"] == typ {
				out = append(out, m)
			}
		}
	}
	return out
}

// closedSession waits for the session row whose params contain marker to be closed.
func closedSession(t *testing.T, b *testenv.Bastion, account, marker string) store.Session {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err := b.App.Store.ListSessions(context.Background(), store.SessionFilter{Account: account, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if strings.Contains(r.Params, marker) && r.Status == "closed" {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no closed session of %s with %q in its params: %+v", account, marker, rows)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sessionOpen returns the session.open audit entry of session id.
func sessionOpen(t *testing.T, b *testenv.Bastion, id string) map[string]any {
	t.Helper()
	for _, e := range auditEntries(t, b, "session.open") {
		if f, _ := e["fields"].(map[string]any); f["uniqid"] == id {
			return f
		}
	}
	t.Fatalf("no session.open for %s", id)
	return nil
}

// TestRemoteCommandIsAuditedWhole: a connection's remote command is in the audit log and the
// session list word for word: a --token or --pass in it is not masked (that hid a command that
// ran on the target), however long the line. The bastion's own secret options still are.
func TestRemoteCommandIsAuditedWhole(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	dest := fmt.Sprintf("%s@127.0.0.1", sshd.User)
	pad := strings.Repeat("x", 100) // past the recording title's 80 characters
	cmd := `true ` + pad + `; echo --token "$(echo HIDDEN-PAYLOAD)" --pass "$(echo OTHER-PAYLOAD)"`
	r := b.SSH(aliceKey, "alice", dest, "-p", fmt.Sprint(sshd.Port), cmd)
	if r.Exit != 0 || !strings.Contains(r.Stdout, "--token HIDDEN-PAYLOAD --pass OTHER-PAYLOAD") {
		t.Fatalf("the command did not run on the target: exit %d %q %q", r.Exit, r.Stdout, r.Stderr)
	}
	row := closedSession(t, b, "alice", "HIDDEN-PAYLOAD")
	if !strings.Contains(row.Params, `--token $(echo HIDDEN-PAYLOAD) --pass $(echo OTHER-PAYLOAD)`) || strings.Contains(row.Params, audit.Masked) {
		t.Fatalf("session row params %q: the remote command is not whole", row.Params)
	}
	params := strings.Join(anyStrings(sessionOpen(t, b, row.ID)["params"]), " ")
	if !strings.Contains(params, "$(echo HIDDEN-PAYLOAD)") || !strings.Contains(params, "$(echo OTHER-PAYLOAD)") ||
		!strings.Contains(params, pad) || strings.Contains(params, audit.Masked) {
		t.Fatalf("session.open params %q: the remote command is not whole", params)
	}
	// The list shows it too.
	lr := b.SSH(aliceKey, "alice", "--json-greppable", "--osh", "selfListSessions", "--type", "ssh")
	if !strings.Contains(lr.Stdout, "HIDDEN-PAYLOAD") {
		t.Fatalf("selfListSessions hides the command: %s", lr.Stdout)
	}
	// The bastion's own secret options are still masked, in the row and the audit.
	b.SSH(aliceKey, "alice", "--osh", "selfMFASetupPassword", "--password", "'NOT-IN-THE-LOG'")
	orow := closedSession(t, b, "alice", "selfMFASetupPassword")
	if strings.Contains(orow.Params, "NOT-IN-THE-LOG") {
		t.Fatalf("a bastion option's secret reached the session row: %q", orow.Params)
	}
	for _, typ := range []string{"session.open", "osh.command"} {
		for _, e := range auditEntries(t, b, typ) {
			if line, _ := json.Marshal(e); strings.Contains(string(line), "NOT-IN-THE-LOG") {
				t.Fatalf("a bastion option's secret reached the audit log: %s", line)
			}
		}
	}
}

func anyStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// TestStealthCannotBeExtended: a command the stealth pattern allows is unrecorded and audited as
// stealth; the same command with anything chained after it is recorded whole.
func TestStealthCannotBeExtended(t *testing.T) {
	b := testenv.Start(t, testenv.Options{Config: "ttyrecStealthStdoutPattern = \"^(rsync --server|echo) .*\"\n"})
	sshd, aliceKey := targetSetup(t, b)
	dest := fmt.Sprintf("%s@127.0.0.1", sshd.User)
	port := fmt.Sprint(sshd.Port)
	// rsync's server side needs its protocol grant on the plain path too (issue 12).
	b.MustOK("--osh", "accountAddPersonalAccess", "--account", "alice", "--host", "127.0.0.1", "--port", port, "--rsync")
	// recording returns a recording's events, without the header (whose title names the command).
	recording := func(row store.Session) string {
		_, events, _ := strings.Cut(testenv.RecordingCast(t, row.Recording), "\n")
		return events
	}

	// Allowed: a plain command the pattern matches whole.
	if r := b.SSH(aliceKey, "alice", dest, "-p", port, "echo", "QUIET-1234"); !strings.Contains(r.Stdout, "QUIET-1234") {
		t.Fatalf("stealth command: %q %q", r.Stdout, r.Stderr)
	}
	row := closedSession(t, b, "alice", "QUIET-1234")
	if rec := recording(row); strings.Contains(rec, "QUIET-1234") || !strings.Contains(rec, record.StealthMarker) {
		t.Fatalf("stealth session recorded its output, or has no marker:\n%s", rec)
	}
	if f := sessionOpen(t, b, row.ID); f["stealth"] != true {
		t.Fatalf("session.open of a stealth session: %v", f)
	}
	if !strings.Contains(row.Comment, "stealth") {
		t.Fatalf("session row of a stealth session: comment %q", row.Comment)
	}

	// Extended with shell syntax: recorded, not stealth, with what the chained command printed.
	for i, cmd := range []string{"rsync --server . /tmp/nowhere; echo SECRET-%d", "echo x && echo SECRET-%d", "echo x > /nonexistent/f || echo SECRET-%d",
		"echo x | sed s/^/SECRET-%d/", "echo x $(echo SECRET-%d)", "echo x `echo SECRET-%d`", "echo x\necho SECRET-%d",
		"echo x > /dev/null; echo SECRET-%d", "echo x & echo SECRET-%d"} {
		mark := fmt.Sprintf("SECRET-%d", i)
		cmd = fmt.Sprintf(cmd, i)
		b.SSH(aliceKey, "alice", dest, "-p", port, cmd)
		row := closedSession(t, b, "alice", mark)
		rec := recording(row)
		if strings.Contains(rec, record.StealthMarker) {
			t.Errorf("%q was stealth", cmd)
		}
		if f := sessionOpen(t, b, row.ID); f["stealth"] == true {
			t.Errorf("%q audited as stealth", cmd)
		}
		if !strings.Contains(rec, mark) && !strings.Contains(rec, "SECRET-x") {
			t.Errorf("%q: the chained command's output is not recorded:\n%s", cmd, rec)
		}
	}
}

// TestTTLOverflowRefused: --ttl 600y gave 15 years and 1000y a negative TTL; both are refused
// with a clear error and nothing is added.
func TestTTLOverflowRefused(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	b.CreateAccount("bob")
	for _, ttl := range []string{"600y", "1000y", "9223372036854775807s", "101y"} {
		r := b.Admin("--json-greppable", "--osh", "accountAddPersonalAccess", "--account", "bob", "--host", "10.0.0.9",
			"--user-any", "--port", "22", "--ttl", ttl)
		if r.Exit == 0 || !strings.Contains(r.Stdout, "out of range") {
			t.Errorf("--ttl %s: exit %d, %s", ttl, r.Exit, r.JSON())
		}
	}
	r := b.MustOK("--osh", "accountListAccesses", "--account", "bob")
	if strings.Contains(r.Stdout, "10.0.0.9") {
		t.Fatalf("an access was added with an overflowing TTL: %s", r.Stdout)
	}
	b.MustOK("--osh", "accountAddPersonalAccess", "--account", "bob", "--host", "10.0.0.9", "--user-any", "--port", "22", "--ttl", "100y")
}

// TestRelayedRecordingCapped: a relayed session past recordingMaxBytes goes on (the user gets all
// of its output) while its recording stops with a marker; the audit and the session row say so.
func TestRelayedRecordingCapped(t *testing.T) {
	const recCap = 1 << 20
	// asciicast: 3 MB of "x" compress to almost nothing in the default format, whose cap on the
	// compressed file internal/record's TestMaxBytes checks with random bytes.
	b := testenv.Start(t, testenv.Options{Config: fmt.Sprintf("recordingFormat = \"asciicast\"\nrecordingMaxBytes = %d\nmetricsListen = \"127.0.0.1:0\"\n", recCap)})
	sshd, aliceKey := targetSetup(t, b)
	dest := fmt.Sprintf("%s@127.0.0.1", sshd.User)
	r := b.SSH(aliceKey, "alice", dest, "-p", fmt.Sprint(sshd.Port), "head -c 3000000 /dev/zero | tr '\\000' x | fold -w 99; echo CAP-END")
	if r.Exit != 0 || strings.Count(r.Stdout, "x") != 3000000 || !strings.Contains(r.Stdout, "CAP-END") {
		t.Fatalf("the session did not go on: exit %d, %d x, stderr %q", r.Exit, strings.Count(r.Stdout, "x"), r.Stderr)
	}
	row := closedSession(t, b, "alice", "CAP-END")
	data, err := os.ReadFile(row.Recording)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < recCap || len(data) > recCap+256<<10 || !strings.Contains(string(data), record.LimitMarker) || strings.Contains(string(data), "CAP-END\\r\\n") {
		t.Fatalf("recording of %d bytes (cap %d), marker %v", len(data), recCap, strings.Contains(string(data), record.LimitMarker))
	}
	if !strings.Contains(row.Comment, "recordingMaxBytes") || row.Size != int64(len(data)) {
		t.Fatalf("session row: comment %q, size %d", row.Comment, row.Size)
	}
	var limit, closed bool
	for _, e := range auditEntries(t, b, "recording.limit") {
		limit = limit || e["fields"].(map[string]any)["uniqid"] == row.ID
	}
	for _, e := range auditEntries(t, b, "session.close") {
		f := e["fields"].(map[string]any)
		closed = closed || f["uniqid"] == row.ID && f["recording_truncated"] == true
	}
	if !limit || !closed {
		t.Fatalf("audit: recording.limit %v, session.close recording_truncated %v", limit, closed)
	}
	resp, err := http.Get("http://" + b.App.MetricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "gatehouse_recordings_truncated_total 1\n") {
		t.Fatalf("/metrics does not count the capped recording")
	}
}

// TestInteractiveConnectionCommandAudited: a remote command typed in the interactive mode is in
// the audit log whole (connection.open), since the session itself was opened as "-i".
func TestInteractiveConnectionCommandAudited(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	term := b.SSHTerminal(aliceKey, "alice", 100, 30, "-i")
	off := term.Expect(0, "> ", 10*time.Second)
	term.Send(fmt.Sprintf("%s@127.0.0.1 -p %d echo --token \"$(echo INTERACTIVE-PAYLOAD)\"\r", sshd.User, sshd.Port))
	off = term.Expect(off, "--token INTERACTIVE-PAYLOAD", 10*time.Second)
	term.Expect(off, "> ", 10*time.Second)
	defer term.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, e := range auditEntries(t, b, "connection.open") {
			params := strings.Join(anyStrings(e["fields"].(map[string]any)["params"]), " ")
			if strings.Contains(params, `--token $(echo INTERACTIVE-PAYLOAD)`) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection.open with the remote command whole: %v", auditEntries(t, b, "connection.open"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
