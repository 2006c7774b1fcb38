package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/record"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// recordingsOpen lists the files under dir that this process (gatehouse runs in the test
// process) holds open.
func recordingsOpen(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("listing open files: %v", err)
	}
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.HasPrefix(l, dir+string(filepath.Separator)) {
			out = append(out, l)
		}
	}
	return out
}

// An idle relayed session holds no descriptor for its recording: the file is closed after each
// flush and reopened by the next output, so a bastion's 10,000 idle sessions need two
// descriptors each, not three. What the user types after the pause is recorded all the same.
func TestIdleRelayedSessionHoldsNoRecordingDescriptor(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	recordings := filepath.Join(b.DataDir, "recordings")
	noneOpen := func(when string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second) // the flush interval is 1 s
		for {
			open := recordingsOpen(t, recordings)
			if len(open) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the idle session still holds its recording open: %v", when, open)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	term := b.SSHTerminal(aliceKey, "alice", 80, 24, fmt.Sprintf("%s@127.0.0.1", sshd.User), "-p", fmt.Sprint(sshd.Port))
	off := term.Expect(0, "Connecting...", 10*time.Second)
	term.Send("echo before-$((6*7))\r")
	off = term.Expect(off, "before-42", 10*time.Second)
	noneOpen("after the first output")
	term.Send("echo after-idle-$((2*3))\r")
	term.Expect(off, "after-idle-6", 10*time.Second)
	noneOpen("after the second output")
	term.Send("exit 0\r")
	if code := term.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}

	var path string
	for try := 0; try < 50 && path == ""; try++ {
		rows, err := b.App.Store.ListSessions(context.Background(), store.SessionFilter{Account: "alice", Kind: "ssh"})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Recording != "" && r.Status == "closed" {
				path = r.Recording
			}
		}
		time.Sleep(time.Duration(try) * 10 * time.Millisecond)
	}
	if path == "" {
		t.Fatal("no closed session with a recording")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	err = record.ExportText(&text, f)
	f.Close()
	if err != nil {
		t.Fatalf("the recording does not read whole: %v", err)
	}
	for _, want := range []string{"before-42", "after-idle-6"} {
		if !strings.Contains(text.String(), want) {
			t.Fatalf("recording lacks %q:\n%s", want, text.String())
		}
	}
	noneOpen("after the session")
}

// Someone with access to the recordings directory replaces an idle session's recording with a
// file of their own (renamed over it): the next output is not written into that file, and the
// recording fails as on a full disk: the session ends (it does not go on unrecorded), the user
// is told why, and its row is closed.
func TestRecordingReplacedWhileIdleIsNotWrittenElsewhere(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	recordings := filepath.Join(b.DataDir, "recordings")

	term := b.SSHTerminal(aliceKey, "alice", 80, 24, fmt.Sprintf("%s@127.0.0.1", sshd.User), "-p", fmt.Sprint(sshd.Port))
	off := term.Expect(0, "Connecting...", 10*time.Second)
	term.Send("echo before-$((6*7))\r")
	off = term.Expect(off, "before-42", 10*time.Second)
	var path string
	deadline := time.Now().Add(10 * time.Second)
	for path == "" || len(recordingsOpen(t, recordings)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no resting recording of an open session (path %q, open %v)", path, recordingsOpen(t, recordings))
		}
		rows, err := b.App.Store.ListSessions(context.Background(), store.SessionFilter{Account: "alice", Kind: "ssh"})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Status == "open" && r.Recording != "" {
				path = r.Recording
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	planted := filepath.Join(t.TempDir(), "planted")
	if err := os.WriteFile(planted, []byte("planted"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(planted, path); err != nil {
		t.Fatal(err)
	}
	term.Send("echo after-$((2*3))\r")
	off = term.Expect(off, "after-6", 10*time.Second) // relayed before the recorder meets the file
	// The next flush finds another file: the session ends by itself, and says why.
	term.Expect(off, "This session cannot be recorded any more", 10*time.Second)
	if code := term.Wait(10 * time.Second); code == 0 {
		t.Fatalf("exit %d after the recording failed", code)
	}
	var closed bool
	for try := 0; try < 50 && !closed; try++ {
		rows, _ := b.App.Store.ListSessions(context.Background(), store.SessionFilter{Account: "alice", Kind: "ssh"})
		for _, r := range rows {
			closed = closed || r.Recording == path && r.Status == "closed"
		}
		time.Sleep(time.Duration(try) * 10 * time.Millisecond)
	}
	if !closed {
		t.Fatal("the session's row was not closed")
	}
	if got, _ := os.ReadFile(path); string(got) != "planted" {
		t.Fatalf("the planted file was written to: %q", got)
	}
}

// Several sessions on one client connection (OpenSSH's ControlMaster, as the idle benchmark's
// -sessions-per-conn): each is its own relay, with its own connection to the target (sshd sees
// a different source port for each), its own session row and recording.
func TestControlMasterSessionsEachRelayed(t *testing.T) {
	b := testenv.Start(t, testenv.Options{})
	sshd, aliceKey := targetSetup(t, b)
	sock := filepath.Join(t.TempDir(), "mux")
	master := exec.Command("ssh", append([]string{"-N", "-o", "ControlMaster=yes", "-o", "ControlPath=" + sock}, b.SSHArgs(aliceKey, "alice")...)...)
	if err := master.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = master.Process.Kill(); _ = master.Wait() })
	viaMux := func(words ...string) (string, error) {
		args := append([]string{"-o", "ControlMaster=no", "-o", "ControlPath=" + sock}, b.SSHArgs("", "alice")...)
		out, err := exec.Command("ssh", append(append(args, "--"), words...)...).CombinedOutput()
		return string(out), err
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if out, err := viaMux("--osh", "info"); err == nil && strings.Contains(out, "alice") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the ControlMaster connection never came up")
		}
		time.Sleep(50 * time.Millisecond)
	}
	const n = 4
	outs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = viaMux(fmt.Sprintf("%s@127.0.0.1", sshd.User), "-p", fmt.Sprint(sshd.Port),
				fmt.Sprintf("echo session-%d from $SSH_CONNECTION; sleep 1", i))
		}()
	}
	wg.Wait()
	sources := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("session %d: %v\n%s", i, errs[i], outs[i])
		}
		_, after, ok := strings.Cut(outs[i], fmt.Sprintf("session-%d from ", i))
		f := strings.Fields(after)
		if !ok || len(f) < 2 {
			t.Fatalf("session %d: output %q", i, outs[i])
		}
		sources[f[0]+":"+f[1]] = true // the egress connection's address and source port
	}
	if len(sources) != n {
		t.Fatalf("%d sessions on one client connection reached the target over %d connections, want %d: %v", n, len(sources), n, sources)
	}
	recordings := map[string]bool{}
	for try := 0; try < 50 && len(recordings) < n; try++ {
		time.Sleep(time.Duration(try) * 10 * time.Millisecond)
		rows, err := b.App.Store.ListSessions(context.Background(), store.SessionFilter{Account: "alice", Kind: "ssh"})
		if err != nil {
			t.Fatal(err)
		}
		clear(recordings)
		for _, r := range rows {
			if r.Status == "closed" && r.ExitStatus == 0 && r.Recording != "" {
				recordings[r.Recording] = true
			}
		}
	}
	if len(recordings) != n {
		t.Fatalf("%d closed ssh sessions with their own recording, want %d", len(recordings), n)
	}
}
