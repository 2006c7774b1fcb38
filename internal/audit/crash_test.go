package audit

import (
	"bufio"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKill9ThenResume kills a process in the middle of appending (no
// Close, no final checkpoint), then checks that the log verifies with an
// unsigned tail, resumes, and verifies strictly once closed.
func TestKill9ThenResume(t *testing.T) {
	dir := logDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Helper$")
	cmd.Env = append(os.Environ(), "GATEHOUSE_AUDIT_CRASH_DIR="+dir)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "appending") {
		cmd.Process.Kill()
		t.Fatalf("helper did not start: %q %v", line, err)
	}
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	rep, err := VerifyFiles([]string{dir}, pubOf(testKey(1)))
	if err != nil {
		t.Fatalf("log after kill -9: %v\n%s", err, rep)
	}
	if rep.Lines < 50 {
		t.Fatalf("only %d lines before the kill", rep.Lines)
	}
	t.Logf("killed after %d lines in %d files; %d unsigned at the end", rep.Lines, len(rep.Files), rep.UnsignedTail)
	l := openLog(t, Options{Dir: dir, CheckpointEvery: 100, MaxFileBytes: 256 << 10})
	appendN(t, l, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := Verify([]string{dir}, pubOf(testKey(1)), VerifyOptions{Strict: true}); err != nil {
		t.Fatalf("resumed log: %v\n%s", err, rep)
	}
}

// TestKill9Helper appends until killed; it does nothing when run alone.
func TestKill9Helper(t *testing.T) {
	dir := os.Getenv("GATEHOUSE_AUDIT_CRASH_DIR")
	if dir == "" {
		return
	}
	l := openLog(t, Options{Dir: dir, CheckpointEvery: 100, MaxFileBytes: 256 << 10})
	os.Stdout.WriteString("appending\n")
	for i := 0; ; i++ {
		if err := l.Append(openEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
}
