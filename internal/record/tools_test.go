package record

// Tests against the real players: asciinema (cat) and the ttyrec package
// (ttyplay -n, ttytime). scripts/test.sh installs them.

import (
	"bufio"
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// writeRecording records chunks with a fake clock advancing step between
// them and returns the file's path.
func writeRecording(t *testing.T, format Format, chunks [][]byte, step time.Duration) string {
	t.Helper()
	clk := newFakeClock()
	rec, path, err := Create(filepath.Join(t.TempDir(), "rec"), "r."+format.Ext(), Options{Format: format, Term: "xterm", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chunks {
		clk.Advance(step)
		rec.Output(c)
	}
	if _, _, err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAsciinemaCat plays our .cast with the real asciinema CLI and compares
// what it prints with what was recorded, byte for byte.
func TestAsciinemaCat(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	in := append(randomText(r, 20000), "\r\n\x1b[1;32mdone\x1b[0m ✓\r\n"...)
	path := writeRecording(t, Asciicast, cutRandomly(r, in), time.Millisecond)

	// asciinema cat opens /dev/tty, so give it a controlling terminal but
	// keep stdout a pipe, so its output reaches us untranslated.
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "asciinema", "cat", path)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "PYTHONIOENCODING=utf-8")
	var out, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, &out, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		t.Fatalf("asciinema cat: %v\n%s", err, stderr.String())
	}
	tty.Close()
	if !bytes.Equal(out.Bytes(), in) {
		i := 0
		for i < min(out.Len(), len(in)) && out.Bytes()[i] == in[i] {
			i++
		}
		t.Fatalf("asciinema cat printed %d bytes, recorded %d; first difference at byte %d: got %q want %q",
			out.Len(), len(in), i, out.Bytes()[i:min(i+20, out.Len())], in[i:min(i+20, len(in))])
	}
}

// TestTtyplayAndTtytime plays our .ttyrec with the real ttyplay (no-wait
// mode) and measures it with ttytime.
func TestTtyplayAndTtytime(t *testing.T) {
	chunks := [][]byte{[]byte("$ uname\r\n"), []byte("Linux\r\n"), []byte("wörld \x1b[0m\r\n")}
	path := writeRecording(t, Ttyrec, chunks, 3*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ttyplay", "-n", path).Output()
	if err != nil {
		t.Fatalf("ttyplay -n: %v", err)
	}
	// Our file starts with the initial size as a resize sequence frame.
	want := append(resizeSequence(80, 24), bytes.Join(chunks, nil)...)
	if !bytes.Equal(out, want) {
		t.Errorf("ttyplay printed %q, want %q", out, want)
	}

	out, err = exec.CommandContext(ctx, "ttytime", path).Output()
	if err != nil {
		t.Fatalf("ttytime: %v", err)
	}
	fields := strings.Fields(string(out))
	// The first frame is at +3s (the clock advanced before each chunk) and
	// the last at +9s; the resize frame at +0s starts the recording.
	if len(fields) < 2 || fields[0] != "9" || fields[1] != path {
		t.Errorf("ttytime says %q, want 9 seconds for %s", out, path)
	}
}

// TestCrashKeepsRecording kills a process that is recording (kill -9, no
// Close) and reads back what reached the disk: everything written more
// than the flush interval before the kill.
func TestCrashKeepsRecording(t *testing.T) {
	for _, format := range []Format{Asciicast, Ttyrec, Gatehouse} {
		t.Run(format.String(), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "rec")
			cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$")
			cmd.Env = append(os.Environ(), "GATEHOUSE_RECORD_CRASH_DIR="+dir, "GATEHOUSE_RECORD_CRASH_FORMAT="+strconv.Itoa(int(format)))
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "ready ") {
				cmd.Process.Kill()
				t.Fatalf("helper did not start: %q %v", line, err)
			}
			path := strings.TrimSpace(strings.TrimPrefix(line, "ready "))
			time.Sleep(1500 * time.Millisecond) // longer than the 1 s flush interval
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()

			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			rd, evs := readAll(t, bytes.NewReader(data))
			if got := string(outputOf(evs, KindOutput)); got != "output seen before the crash ✓\r\n" {
				t.Errorf("recording after kill -9: %q (truncated=%v)", got, rd.Truncated())
			}
		})
	}
}

// TestCrashHelper is the process TestCrashKeepsRecording kills; it does
// nothing when run on its own.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv("GATEHOUSE_RECORD_CRASH_DIR")
	if dir == "" {
		return
	}
	format, _ := strconv.Atoi(os.Getenv("GATEHOUSE_RECORD_CRASH_FORMAT"))
	rec, path, err := Create(dir, "crash."+Format(format).Ext(), Options{Format: Format(format)})
	if err != nil {
		t.Fatal(err)
	}
	rec.Output([]byte("output seen before the crash ✓\r\n"))
	os.Stdout.WriteString("ready " + path + "\n")
	time.Sleep(time.Minute)
}
