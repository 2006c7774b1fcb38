package e2e

// Issue 14, "Tests": what the existing unit tests (internal/record) prove on the recorder alone,
// proven again through a real relayed session: the bytes a target prints are the bytes the
// recording replays (binary, UTF-8 cut anywhere by the relay's reads, a pty's resizes), its
// exports play in ttyplay and asciinema, and a disk that fills mid-session ends the session closed.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/record"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// recordingOf reads the closed session's recording whose params hold marker: its events, and
// checks the row's SHA-256 and size are the file's.
func recordingOf(t *testing.T, b *testenv.Bastion, account, marker string) (store.Session, []record.Event, *record.Reader) {
	t.Helper()
	row := closedSession(t, b, account, marker)
	data, err := os.ReadFile(row.Recording)
	if err != nil {
		t.Fatalf("the session's recording: %v", err)
	}
	if h := sha256.Sum256(data); hex.EncodeToString(h[:]) != row.SHA256 && b.App.Compactor != nil {
		// Compacted between the two reads (text stored as is while it streamed): once the
		// compaction is over, the row holds the hash of the file on disk.
		eventually(t, "the recording's compaction", func() bool { return !b.App.Compactor.Held(row.Recording) })
		row = closedSession(t, b, account, marker)
		if data, err = os.ReadFile(row.Recording); err != nil {
			t.Fatalf("the session's recording: %v", err)
		}
	}
	if h := sha256.Sum256(data); hex.EncodeToString(h[:]) != row.SHA256 || int64(len(data)) != row.Size {
		t.Fatalf("the row says %s/%d, the recording is %x/%d", row.SHA256, row.Size, h, len(data))
	}
	rd, err := record.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("the recording does not read: %v", err)
	}
	var evs []record.Event
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the recording reads %d events, then: %v", len(evs), err)
		}
		evs = append(evs, ev)
	}
	return row, evs, rd
}

func outputBytes(evs []record.Event) []byte {
	var out []byte
	for _, ev := range evs {
		if ev.Kind == record.KindOutput {
			out = append(out, ev.Data...)
		}
	}
	return out
}

// TestIssue14RelayedBytesReplayedWhole: a target prints binary bytes (every value, random),
// UTF-8 text of 1- to 4-byte characters (the relay's reads cut them anywhere) and zeros; the
// session's recording (the default format) replays exactly those bytes, its row's hash is the
// file's, and its ttyrec export plays them back in the real ttyplay, byte for byte.
func TestIssue14RelayedBytesReplayedWhole(t *testing.T) {
	needTool(t, "ttyplay", "ttyrec")
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	var payload []byte
	for i := 0; i < 64; i++ {
		for c := 0; c < 256; c++ {
			payload = append(payload, byte(c))
		}
	}
	payload = append(payload, randomFile(t, filepath.Join(t.TempDir(), "r"), 1<<20)...)
	payload = append(payload, strings.Repeat("a é € 😀 ", 60000)...)
	payload = append(payload, make([]byte, 300000)...)
	src := filepath.Join(t.TempDir(), "payload.bin")
	if err := os.WriteFile(src, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	r := b.SSH(aliceKey, "alice", sshd.User+"@127.0.0.1", "-p", fmt.Sprint(sshd.Port), "--", "cat "+src)
	if r.Exit != 0 || r.Stdout != string(payload) {
		t.Fatalf("cat through the bastion: exit %d, %d bytes of %d (%q)", r.Exit, len(r.Stdout), len(payload), r.Stderr)
	}
	_, evs, rd := recordingOf(t, b, "alice", "cat "+src)
	if rd.Format() != record.Gatehouse || rd.Truncated() {
		t.Fatalf("recording format %v, truncated %v", rd.Format(), rd.Truncated())
	}
	// The recording starts with what the bastion itself said (the accesses tried, then
	// "Connecting..."), then holds the target's bytes, whole and in order.
	got := outputBytes(evs)
	banner, rest, ok := bytes.Cut(got, []byte("Connecting...\n"))
	if !ok || len(banner) > 1024 || !bytes.Equal(rest, payload) {
		t.Fatalf("the recording replays %d bytes after a %d-byte banner (%v), the target printed %d (equal prefix %d)",
			len(rest), len(banner), ok, len(payload), commonPrefixLen(rest, payload))
	}
	// The ttyrec export, played by ttyplay.
	row := closedSession(t, b, "alice", "cat "+src)
	f, err := os.Open(row.Recording)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var exp bytes.Buffer
	if err := record.Export(&exp, f, record.Ttyrec); err != nil {
		t.Fatal(err)
	}
	tr := filepath.Join(t.TempDir(), "export.ttyrec")
	if err := os.WriteFile(tr, exp.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	played, err := exec.Command("ttyplay", "-n", tr).Output()
	if err != nil {
		t.Fatalf("ttyplay -n: %v", err)
	}
	if !bytes.HasSuffix(played, payload) || len(played)-len(payload) > 64+len(banner)+len("Connecting...\n") {
		t.Fatalf("ttyplay printed %d bytes for %d recorded", len(played), len(payload))
	}
}

func commonPrefixLen(a, b []byte) int {
	i := 0
	for i < min(len(a), len(b)) && a[i] == b[i] {
		i++
	}
	return i
}

// TestIssue14PtyResizesAndExports: a pty session through the bastion whose terminal is resized
// three times: the recording holds each size in order, before the output printed at that size;
// its asciicast export plays in the real `asciinema cat` with the same text.
func TestIssue14PtyResizesAndExports(t *testing.T) {
	needTool(t, "asciinema", "asciinema")
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	term := b.SSHTerminal(aliceKey, "alice", 80, 24, fmt.Sprintf("%s@127.0.0.1", sshd.User), "-p", fmt.Sprint(sshd.Port))
	off := term.Expect(0, "Connecting...", 10*time.Second)
	sizes := [][2]int{{100, 30}, {132, 43}, {61, 17}}
	for i, s := range sizes {
		term.Resize(s[0], s[1])
		// stty reads the size the target's pty has now: the resize reached the target first.
		want := fmt.Sprintf("size-%d=%d %d", i, s[1], s[0])
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(term.Output()[off:], want) {
			if time.Now().After(deadline) {
				t.Fatalf("the target never saw %dx%d: %q", s[0], s[1], term.Output()[off:])
			}
			term.Send(fmt.Sprintf("echo size-%d=$(stty size)\r", i))
			time.Sleep(300 * time.Millisecond)
		}
		off = strings.Index(term.Output(), want) + len(want)
	}
	term.Send("echo done-$((6*7)) ✓; exit 0\r")
	if code := term.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	row, evs, _ := recordingOf(t, b, "alice", fmt.Sprintf("-p %d", sshd.Port))
	// Each size is recorded, in order, and comes before the line printed at that size.
	next := 0
	text := ""
	for _, ev := range evs {
		switch ev.Kind {
		case record.KindResize:
			if next < len(sizes) && ev.Cols == sizes[next][0] && ev.Rows == sizes[next][1] {
				next++
			}
		case record.KindOutput:
			text += string(ev.Data)
			if next < len(sizes) && strings.Contains(text, fmt.Sprintf("size-%d=%d %d", next, sizes[next][1], sizes[next][0])) {
				t.Fatalf("size-%d printed before its resize was recorded", next)
			}
		}
	}
	if next != len(sizes) {
		t.Fatalf("the recording holds %d of the %d resizes, in order: %+v", next, len(sizes), evs)
	}
	// The asciicast export plays in asciinema.
	f, err := os.Open(row.Recording)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cast bytes.Buffer
	if err := record.Export(&cast, f, record.Asciicast); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "export.cast")
	if err := os.WriteFile(p, cast.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := testenv.AsciinemaCat(t, p); !strings.Contains(got, "done-42 ✓") || !strings.Contains(got, "size-2=17 61") {
		t.Fatalf("asciinema cat of the export:\n%s", got)
	}
}

// TestIssue14DiskFillsMidSession: the data directory (recordings, audit log, store) is a small
// tmpfs; a relayed shell is running when the disk fills up and the target goes on printing. The
// session does not go on unrecorded: it ends, the client is told why, and once space is back its
// row is closed and its recording reads without error to its last whole frame, holding what was
// printed before the disk filled.
func TestIssue14DiskFillsMidSession(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Need(t, "mounting a tmpfs needs root (CI runs as root)")
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", dataDir).CombinedOutput(); err != nil {
		testenv.Need(t, "cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() {
		if err := exec.Command("umount", dataDir).Run(); err != nil {
			_ = exec.Command("umount", "-l", dataDir).Run()
		}
	})
	b := testenv.Start(t, testenv.Options{DataDir: dataDir, Config: "perSourcePenalties = false\n"})
	sshd, aliceKey := targetSetup(t, b)
	term := b.SSHTerminal(aliceKey, "alice", 80, 24, fmt.Sprintf("%s@127.0.0.1", sshd.User), "-p", fmt.Sprint(sshd.Port))
	off := term.Expect(0, "Connecting...", 10*time.Second)
	term.Send("echo before-$((6*7))\r")
	off = term.Expect(off, "before-42", 10*time.Second)
	// What was printed is flushed to the recording within a second (its last whole frame then).
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err := b.App.Store.ListSessions(context.Background(), store.SessionFilter{Account: "alice", Kind: "ssh"})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 1 && rows[0].Recording != "" {
			if data, _ := os.ReadFile(rows[0].Recording); len(data) > 0 {
				if rd, err := record.NewReader(bytes.NewReader(data)); err == nil {
					var seen []byte
					for ev, err := rd.Next(); err == nil; ev, err = rd.Next() {
						seen = append(seen, ev.Data...)
					}
					if bytes.Contains(seen, []byte("before-42")) {
						break
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the recording never held the output before the disk filled")
		}
		time.Sleep(100 * time.Millisecond)
	}

	filler := filepath.Join(dataDir, "filler")
	fillDisk(t, filler)
	// The target goes on printing: the recording cannot take it.
	term.Send("for i in $(seq 1 200); do head -c 30000 /dev/urandom | base64 -w 0; echo; sleep 0.05; done; echo after-$((2*3))\r")
	code := term.Wait(30 * time.Second)
	out := term.Output()
	if strings.Contains(out[off:], "after-6") {
		t.Fatalf("the session went on past the full disk (exit %d)", code)
	}
	if code != 100 { // ended by the bastion (its registry), with The Bastion's exit status
		t.Fatalf("the session ended with exit %d on a full disk, want 100", code)
	}
	t.Logf("client exit %d; last words: %q", code, out[max(0, len(out)-300):])
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	row, evs, _ := recordingOf(t, b, "alice", fmt.Sprintf("-p %d", sshd.Port))
	if !strings.Contains(string(outputBytes(evs)), "before-42") {
		t.Fatalf("the recording lost what came before the disk filled")
	}
	if !strings.Contains(row.Comment, "This session cannot be recorded any more") {
		t.Errorf("the row does not say why the session ended: %q", row.Comment)
	}
	if !strings.Contains(out, "This session cannot be recorded any more") {
		t.Errorf("the client was not told why the session ended")
	}
	// The audit log resumes once space is back; the session's end is in it.
	waitAudit(t, b, "session.close", map[string]any{"uniqid": row.ID, "account": "alice"})
	t.Logf("row: status %s exit %d comment %q, %d bytes recorded", row.Status, row.ExitStatus, row.Comment, row.Size)
}

// fillDisk writes to path until the file system has no room left.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}
