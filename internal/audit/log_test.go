package audit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

func logDir(t *testing.T) string { return filepath.Join(t.TempDir(), "audit") }

func openLog(t *testing.T, opts Options) *Log {
	t.Helper()
	if opts.Key == nil {
		opts.Key = testKey(1)
	}
	l, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func openEvent(i int) Event {
	return Event{Type: TypeConnectionOpen, Fields: Fields{
		UniqID: fmt.Sprintf("%012x", i), Account: "alice", CmdType: "ssh", Allowed: Bool(true),
		IPFrom: "192.0.2.1", PortFrom: 50000 + i, User: "root", IPTo: "10.0.0.1", PortTo: 22,
	}}
}

func appendN(t *testing.T, l *Log, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if err := l.Append(openEvent(i)); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
	}
}

func TestIntactLogVerifies(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, Options{Dir: dir, CheckpointEvery: 10})
	appendN(t, l, 25)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := VerifyFiles([]string{dir}, pubOf(testKey(1)))
	if err != nil {
		t.Fatalf("intact log failed: %v\n%s", err, rep)
	}
	// The start checkpoint, audit.start + 25 events = 26 events, checkpoints
	// after every 10 and the shutdown checkpoint at Close.
	if rep.Lines != 1+26+3 || rep.Checkpoints != 4 || rep.UnsignedTail != 0 || rep.LastSeq != 30 || !rep.Closed || !rep.Strict || rep.Starts != 1 {
		t.Errorf("report %+v", rep)
	}
	if !strings.Contains(rep.String(), "verification: OK") {
		t.Errorf("human report does not say OK:\n%s", rep)
	}
	fi, _ := os.Stat(filepath.Join(dir, fileName(1)))
	di, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("file mode %v, dir mode %v", fi.Mode().Perm(), di.Mode().Perm())
	}
	if _, err := VerifyFiles([]string{dir}, pubOf(testKey(2))); !errors.Is(err, ErrBroken) {
		t.Errorf("verified with the wrong public key: %v", err)
	}
}

func TestOpenRefusesUnsafeSetup(t *testing.T) {
	if _, err := Open(Options{Dir: logDir(t)}); err == nil {
		t.Error("Open without a signing key succeeded")
	}
	open := t.TempDir()
	os.Chmod(open, 0o755)
	if _, err := Open(Options{Dir: open, Key: testKey(1)}); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("Open in a 0755 directory: %v", err)
	}
	l := openLog(t, Options{Dir: logDir(t)})
	if err := l.Append(Event{Type: TypeCheckpoint}); err == nil {
		t.Error("Append accepted a forged checkpoint type")
	}
	l.Close()
	if err := l.Append(openEvent(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
}

func TestWriteFailureLastsWhileItsCauseDoes(t *testing.T) {
	l := openLog(t, Options{Dir: logDir(t)})
	l.f.Close() // the disk goes away under the log
	if err := l.Append(openEvent(1)); err == nil {
		t.Fatal("Append succeeded on a closed file")
	}
	if err := l.Append(openEvent(2)); err == nil || !strings.Contains(err.Error(), "since a write failure") {
		t.Errorf("second Append after a failure: %v", err)
	}
	if l.Healthy() == nil || l.Retry() == nil || l.Failures() != 2 {
		t.Errorf("healthy %v, retry %v, failures %d", l.Healthy(), l.Retry(), l.Failures())
	}
}

func TestRotationKeepsTheChain(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, Options{Dir: dir, CheckpointEvery: 7, MaxFileBytes: 2000})
	appendN(t, l, 60)
	l.Close()
	files, _ := Files(dir)
	if len(files) < 4 {
		t.Fatalf("only %d files; rotation did not happen", len(files))
	}
	rep, err := VerifyFiles(files, pubOf(testKey(1)))
	if err != nil {
		t.Fatalf("rotated log failed: %v\n%s", err, rep)
	}
	for i, f := range rep.Files {
		if !f.EndsInCheckpoint {
			t.Errorf("file %d does not end in a checkpoint", i)
		}
		if i > 0 && f.FirstSeq != rep.Files[i-1].LastSeq+1 {
			t.Errorf("file %d starts at seq %d after %d", i, f.FirstSeq, rep.Files[i-1].LastSeq)
		}
		if filepath.Base(f.Path) != fileName(f.FirstSeq) {
			t.Errorf("file %s does not carry its first seq %d", f.Path, f.FirstSeq)
		}
	}

	// A missing middle file, a missing first file, a cut rotated file.
	t.Run("middle file removed", func(t *testing.T) {
		rep, err := VerifyFiles(append(append([]string{}, files[:1]...), files[2:]...), pubOf(testKey(1)))
		if !errors.Is(err, ErrBroken) || rep.Problem.Kind != ProblemDeleted || rep.Problem.File != files[2] || rep.Problem.Line != 1 {
			t.Errorf("got %v", rep.Problem)
		}
	})
	t.Run("first file removed", func(t *testing.T) {
		rep, _ := VerifyFiles(files[1:], pubOf(testKey(1)))
		if rep.Problem == nil || rep.Problem.Kind != ProblemBadStart {
			t.Errorf("got %v", rep.Problem)
		}
		if rep, err := Verify(files[1:], pubOf(testKey(1)), VerifyOptions{AllowPartial: true}); err != nil {
			t.Errorf("partial log with AllowPartial: %v\n%s", err, rep)
		}
	})
	t.Run("rotated file cut at a line boundary", func(t *testing.T) {
		cut := copyFiles(t, files)
		lines := readLines(t, cut[1])
		writeLines(t, cut[1], lines[:len(lines)-2])
		rep, _ := VerifyFiles(cut, pubOf(testKey(1)))
		if rep.Problem == nil || rep.Problem.Kind != ProblemTruncated || rep.Problem.File != cut[1] || rep.Problem.Line != len(lines)-1 {
			t.Errorf("got %v", rep.Problem)
		}
	})
}

func TestConcurrentAppendsVerify(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, Options{Dir: dir, CheckpointEvery: 50, MaxFileBytes: 64 << 10})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if err := l.Append(openEvent(g*1000 + i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	l.Close()
	rep, err := VerifyFiles([]string{dir}, pubOf(testKey(1)))
	if err != nil {
		t.Fatalf("%v\n%s", err, rep)
	}
	if events := rep.Lines - rep.Checkpoints; events != 1601 {
		t.Errorf("%d events in the log, want 1601", events)
	}
}

func TestResumeAfterCrashAndRestart(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, Options{Dir: dir, CheckpointEvery: 10})
	appendN(t, l, 14) // lines: start, 9 events, ckpt, 5 events → 5 unsigned
	// Crash: the Log is abandoned without Close; every line already went
	// to the kernel with its own write(2).
	l.f.Close()

	rep, err := VerifyFiles([]string{dir}, pubOf(testKey(1)))
	if err != nil || rep.UnsignedTail != 5 {
		t.Fatalf("crashed log: err %v, unsigned tail %d, want 5\n%s", err, rep.UnsignedTail, rep)
	}
	if _, err := Verify([]string{dir}, pubOf(testKey(1)), VerifyOptions{Strict: true}); !errors.Is(err, ErrBroken) {
		t.Errorf("strict mode accepted an unsigned tail: %v", err)
	}

	l = openLog(t, Options{Dir: dir, CheckpointEvery: 10})
	appendN(t, l, 3)
	l.Close()
	rep, err = Verify([]string{dir}, pubOf(testKey(1)), VerifyOptions{Strict: true})
	if err != nil {
		t.Fatalf("resumed log: %v\n%s", err, rep)
	}
	lines := readLines(t, filepath.Join(dir, fileName(1)))
	var start record
	for _, ln := range lines {
		if r, _ := parseRecord([]byte(ln)); r.Type == TypeAuditStart && r.Fields.Extra["resumed"] == "true" {
			start = r
		}
	}
	if start.Fields == nil || start.Fields.Extra["unsigned_lines"] != "5" {
		t.Errorf("resume did not record the 5 unsigned lines it found: %+v", start.Fields)
	}
	// A clean restart resumes too, and after a rotation, into a new file.
	l = openLog(t, Options{Dir: dir, CheckpointEvery: 10, MaxFileBytes: 1})
	appendN(t, l, 2)
	l.Close()
	files, _ := Files(dir)
	if rep, err := VerifyFiles(files, pubOf(testKey(1))); err != nil || len(files) < 2 {
		t.Fatalf("after restart with rotation: %d files, %v\n%s", len(files), err, rep)
	}
}

func TestResumeRefusesDamagedLog(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, Options{Dir: dir, CheckpointEvery: 10})
	appendN(t, l, 5)
	l.Close()
	path := filepath.Join(dir, fileName(1))
	lines := readLines(t, path)
	lines[3] = strings.Replace(lines[3], "alice", "mallory", 1) // an edited line, not a crash
	writeLines(t, path, lines)
	if _, err := Open(Options{Dir: dir, Key: testKey(1)}); err == nil || !strings.Contains(err.Error(), "audit verify") {
		t.Errorf("Open on an edited log: %v", err)
	}
	// More than one line's worth of bytes after the last line is not a crash either.
	writeLines(t, path, append(lines[:3], strings.Repeat("x", 2*maxLineBytes)))
	if _, err := Open(Options{Dir: dir, Key: testKey(1)}); err == nil || !strings.Contains(err.Error(), "not left by a crash") {
		t.Errorf("Open on a log with a huge incomplete end: %v", err)
	}
}

func TestCheckpointInterval(t *testing.T) {
	dir := logDir(t)
	l := openLog(t, Options{Dir: dir, CheckpointEvery: 4})
	appendN(t, l, 11)
	l.Close()
	var since, max int
	for _, ln := range readLines(t, filepath.Join(dir, fileName(1))) {
		r, err := parseRecord([]byte(ln))
		if err != nil {
			t.Fatal(err)
		}
		if r.Type == TypeCheckpoint {
			since = 0
		} else {
			since++
			max = maxInt(max, since)
		}
	}
	if max != 4 || since != 0 {
		t.Errorf("longest run without a checkpoint %d (want 4), unsigned at the end %d", max, since)
	}
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(string(data), "\n")[:strings.Count(string(data), "\n")]
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

func copyFiles(t *testing.T, files []string) []string {
	t.Helper()
	dir := t.TempDir()
	var out []string
	for _, f := range files {
		data, _ := os.ReadFile(f)
		p := filepath.Join(dir, filepath.Base(f))
		os.WriteFile(p, data, 0o600)
		out = append(out, p)
	}
	return out
}

func TestFileNameOrder(t *testing.T) {
	// Name order must be seq order, or Files would verify out of order.
	a, b := fileName(9), fileName(10)
	if a >= b {
		t.Errorf("%s sorts after %s", a, b)
	}
	if !fileNameRE.MatchString(fileName(1 << 63)) {
		t.Errorf("name for a huge seq does not match the pattern")
	}
}

func TestVerifyRejectsOverlongLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), fileName(1))
	writeLines(t, p, []string{strings.Repeat("x", 5*maxLineBytes) + "\n"})
	rep, err := VerifyFiles([]string{p}, pubOf(testKey(1)))
	if !errors.Is(err, ErrBroken) || rep.Problem == nil || rep.Problem.Kind != ProblemCorrupt {
		t.Errorf("over-long line: err %v, problem %v", err, rep.Problem)
	}
}
