package record

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for deterministic event times.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func readAll(t *testing.T, r io.Reader) (*Reader, []Event) {
	t.Helper()
	rd, err := NewReader(r)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	var evs []Event
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return rd, evs
		}
		if err != nil {
			t.Fatalf("Next after %d events: %v", len(evs), err)
		}
		evs = append(evs, ev)
	}
}

func outputOf(evs []Event, kind EventKind) []byte {
	var b []byte
	for _, ev := range evs {
		if ev.Kind == kind {
			b = append(b, ev.Data...)
		}
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	for _, format := range []Format{Asciicast, Ttyrec, Gatehouse} {
		t.Run(format.String(), func(t *testing.T) {
			clk := newFakeClock()
			var buf bytes.Buffer
			rec, err := New(&buf, Options{Format: format, Cols: 100, Rows: 30, Term: "xterm-256color", Shell: "/bin/bash", Title: "t", Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			clk.Advance(500 * time.Millisecond)
			rec.Output([]byte("$ echo héllo\r\n"))
			clk.Advance(1500 * time.Millisecond)
			rec.Resize(120, 40)
			rec.Output([]byte("héllo\r\n\x1b[0m"))
			sum, size, err := rec.Close()
			if err != nil {
				t.Fatal(err)
			}
			if size != int64(buf.Len()) {
				t.Errorf("Close size %d, file has %d bytes", size, buf.Len())
			}
			if h := sha256.Sum256(buf.Bytes()); sum != hex.EncodeToString(h[:]) {
				t.Errorf("Close sha256 %s does not match the bytes written", sum)
			}
			rd, evs := readAll(t, bytes.NewReader(buf.Bytes()))
			if rd.Format() != format {
				t.Errorf("detected format %v, want %v", rd.Format(), format)
			}
			if h := rd.Header(); h.Width != 100 || h.Height != 30 {
				t.Errorf("header size %dx%d, want 100x30", h.Width, h.Height)
			}
			if got := string(outputOf(evs, KindOutput)); got != "$ echo héllo\r\nhéllo\r\n\x1b[0m" {
				t.Errorf("output %q", got)
			}
			var resized, sawSecond bool
			for _, ev := range evs {
				if ev.Kind == KindResize && ev.Cols == 120 && ev.Rows == 40 {
					resized = true
					if ev.Time != 2*time.Second {
						t.Errorf("resize at %v, want 2s", ev.Time)
					}
				}
				if ev.Kind == KindOutput && strings.HasPrefix(string(ev.Data), "$ echo") {
					sawSecond = ev.Time == 500*time.Millisecond
				}
			}
			if !resized {
				t.Errorf("no 120x40 resize event in %+v", evs)
			}
			if !sawSecond {
				t.Errorf("first output not at 0.5s: %+v", evs)
			}
		})
	}
}

func TestAsciicastHeaderAndInputPolicy(t *testing.T) {
	var buf bytes.Buffer
	rec, err := New(&buf, Options{Term: "xterm", Shell: "/bin/sh", Title: "acct@host", Command: "uptime", Now: newFakeClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	rec.Input([]byte("secret-password\r"))
	rec.Output([]byte("up 3 days"))
	rec.Close()
	if strings.Contains(buf.String(), "secret") {
		t.Fatalf("input recorded although RecordInput is off:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), "uptime") {
		t.Errorf("command written to header without HeaderCommand")
	}
	rd, _ := readAll(t, &buf)
	h := rd.Header()
	want := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC).Unix()
	if h.Version != 2 || h.Width != 80 || h.Height != 24 || h.Timestamp != want || h.Title != "acct@host" ||
		h.Env["TERM"] != "xterm" || h.Env["SHELL"] != "/bin/sh" {
		t.Errorf("header %+v", h)
	}

	buf.Reset()
	rec, _ = New(&buf, Options{RecordInput: true})
	rec.Input([]byte("ls\r"))
	rec.Close()
	_, evs := readAll(t, &buf)
	if got := string(outputOf(evs, KindInput)); got != "ls\r" {
		t.Errorf("input events %q, want %q", got, "ls\r")
	}
	if _, err := New(io.Discard, Options{Format: Ttyrec, RecordInput: true}); err == nil {
		t.Error("ttyrec with RecordInput accepted; it cannot hold input")
	}
}

func TestStealthStdout(t *testing.T) {
	pattern := regexp.MustCompile(`(rsync|scp) .*`)
	for _, format := range []Format{Asciicast, Ttyrec, Gatehouse} {
		for _, tc := range []struct {
			command  string
			recorded bool
		}{{"rsync --server -vlogDtpre.iLsfxC . /tmp", false}, {"ls -l", true}} {
			var buf bytes.Buffer
			rec, err := New(&buf, Options{Format: format, Command: tc.command, StealthStdout: pattern})
			if err != nil {
				t.Fatal(err)
			}
			rec.Output([]byte("PAYLOAD-BYTES"))
			rec.Close()
			_, evs := readAll(t, &buf)
			got := string(outputOf(evs, KindOutput)) + string(outputOf(evs, KindMarker))
			if strings.Contains(got, "PAYLOAD") != tc.recorded {
				t.Errorf("%v %q: payload recorded=%v, want %v", format, tc.command, !tc.recorded, tc.recorded)
			}
			if strings.Contains(got, StealthMarker) == tc.recorded {
				t.Errorf("%v %q: stealth marker present=%v, want %v", format, tc.command, tc.recorded, !tc.recorded)
			}
		}
	}
}

// TestUTF8SplitProperty is the property the issue asks for: random UTF-8
// text cut at random points, recorded and read back, equals the input.
func TestUTF8SplitProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for i := 0; i < 300; i++ {
		in := randomText(r, 1+r.IntN(3000))
		var buf bytes.Buffer
		rec, err := New(&buf, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for j, chunk := range cutRandomly(r, in) {
			rec.Output(chunk)
			if j%17 == 0 {
				rec.Resize(80+j%5, 24) // resizes between the halves of a character
			}
		}
		if _, _, err := rec.Close(); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(buf.Bytes(), []byte(`\ufffd`)) {
			t.Fatalf("valid input produced U+FFFD escapes")
		}
		_, evs := readAll(t, &buf)
		if got := outputOf(evs, KindOutput); !bytes.Equal(got, in) {
			t.Fatalf("round trip differs:\n got %q\nwant %q", got, in)
		}
	}
}

func TestLargeOutputIsSplitIntoBoundedEvents(t *testing.T) {
	in := bytes.Repeat([]byte("ab€"), 100_000) // 500 KB; € straddles many cut points
	for _, format := range []Format{Asciicast, Ttyrec, Gatehouse} {
		var buf bytes.Buffer
		rec, _ := New(&buf, Options{Format: format})
		rec.Output(in)
		rec.Close()
		_, evs := readAll(t, &buf)
		if got := outputOf(evs, KindOutput); !bytes.Equal(got, in) {
			t.Fatalf("%v: large output not preserved (%d of %d bytes)", format, len(got), len(in))
		}
		n := 0
		for _, ev := range evs {
			if ev.Kind == KindOutput {
				n++
				if len(ev.Data) > maxEventBytes {
					t.Fatalf("%v: event of %d bytes exceeds %d", format, len(ev.Data), maxEventBytes)
				}
			}
		}
		if n < len(in)/maxEventBytes {
			t.Errorf("%v: %d events for %d bytes", format, n, len(in))
		}
	}
}

func TestTtyrecTimeEncoding(t *testing.T) {
	tests := []time.Time{
		time.Unix(0, 0),
		time.Unix(1700000000, 123456000),
		time.Unix(1<<31+5, 999999000),  // past 2038: top bit of the seconds word
		time.Unix(1<<32+77, 500000000), // past 2106: high bits go into usec
		time.Unix(1<<40, 1000),
	}
	for _, tm := range tests {
		sec, usec := encodeTtyrecTime(tm)
		if usec&(1<<usecBits-1) >= 1_000_000 {
			t.Errorf("%v: usec field %d out of range", tm, usec&(1<<usecBits-1))
		}
		if tm.Unix() < 1<<32 && usec >= 1_000_000 {
			t.Errorf("%v: before 2106 the usec word must be plain microseconds, got %d", tm, usec)
		}
		if got := decodeTtyrecTime(sec, usec); !got.Equal(tm) {
			t.Errorf("round trip %v -> %v", tm, got)
		}
	}
}

func TestTruncatedTailIsReadableAndFlagged(t *testing.T) {
	// Gatehouse files are cut by chunk, not by event: TestGhCutAtEveryOffset.
	for _, format := range []Format{Asciicast, Ttyrec} {
		var buf bytes.Buffer
		rec, _ := New(&buf, Options{Format: format})
		rec.Output([]byte("first line\r\n"))
		rec.Output([]byte("second line that the crash cuts\r\n"))
		rec.Close()
		cut := buf.Bytes()[:buf.Len()-7]
		rd, evs := readAll(t, bytes.NewReader(cut))
		if got := string(outputOf(evs, KindOutput)); got != "first line\r\n" {
			t.Errorf("%v: output before the cut %q", format, got)
		}
		if !rd.Truncated() {
			t.Errorf("%v: truncated file not flagged", format)
		}
	}
}

func TestReaderRejectsGarbage(t *testing.T) {
	for name, in := range map[string]string{
		"empty":              "",
		"asciicast v3":       `{"version":3,"term":{"cols":80,"rows":24}}` + "\n",
		"ttyrec frame bound": "\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\x7f",
	} {
		rd, err := NewReader(strings.NewReader(in))
		if err == nil {
			_, err = rd.Next()
		}
		if err == nil || errors.Is(err, io.EOF) {
			t.Errorf("%s: accepted", name)
		}
	}
	bad := "{\"version\":2,\"width\":80,\"height\":24}\n[0.1,\"o\",\"ok\"]\nnot json\n[0.2,\"o\",\"x\"]\n"
	rd, _ := NewReader(strings.NewReader(bad))
	rd.Next()
	if _, err := rd.Next(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("corrupt middle line: err %v, want ErrCorrupt naming line 3", err)
	}
}

func TestCreatePermissionsAndExclusive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec", "acct")
	name, err := FileName(NameParts{Start: time.Now(), ID: NewID(), Account: "alice", User: "root", Host: "10.0.0.1", Port: 22})
	if err != nil {
		t.Fatal(err)
	}
	rec, path, err := Create(dir, name, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec.Output([]byte("x"))
	if _, _, err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	di, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
		t.Errorf("file mode %v dir mode %v, want 0600 and 0700", fi.Mode().Perm(), di.Mode().Perm())
	}
	if _, _, err := Create(dir, name, Options{}); err == nil {
		t.Error("Create overwrote an existing recording")
	}
	if _, _, err := Create(dir, "../escape.cast", Options{}); err == nil {
		t.Error("Create accepted a name with a path separator")
	}
	open := t.TempDir()
	os.Chmod(open, 0o755)
	if _, _, err := Create(open, name, Options{}); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("Create in a 0755 directory: %v, want a refusal telling to chmod 700", err)
	}
}

// TestFlushedWithoutClose: data reaches the file within the flush
// interval even if Close never comes (the in-process half of the crash
// test; the kill -9 half is TestCrashKeepsRecording).
func TestFlushedWithoutClose(t *testing.T) {
	for _, format := range []Format{Asciicast, Ttyrec, Gatehouse} {
		dir := filepath.Join(t.TempDir(), "r")
		rec, path, err := Create(dir, "x."+format.Ext(), Options{Format: format, FlushInterval: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		rec.Output([]byte("before the crash ✓"))
		time.Sleep(600 * time.Millisecond)
		data, _ := os.ReadFile(path)
		_, evs := readAll(t, bytes.NewReader(data))
		if got := string(outputOf(evs, KindOutput)); got != "before the crash ✓" {
			t.Errorf("%v: on disk after the flush interval: %q", format, got)
		}
		rec.Close()
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, errors.New("disk full")
	}
	w.n--
	return len(p), nil
}

func TestWriteErrorIsSticky(t *testing.T) {
	rec, err := New(&failingWriter{n: 1}, Options{FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// Overflow the 64 KiB buffer so the failing write happens now; the
	// worker meets it shortly after.
	rec.Output(bytes.Repeat([]byte("z"), 200<<10))
	deadline := time.Now().Add(5 * time.Second)
	for rec.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if rec.Err() == nil {
		t.Fatal("Err is still nil after the writer failed")
	}
	// A failed recorder keeps draining: later output must not block.
	for i := 0; i < 100; i++ {
		rec.Output(bytes.Repeat([]byte("y"), maxEventBytes))
	}
	if _, _, err := rec.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Close error %v, want the write error", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	var buf bytes.Buffer
	rec, _ := New(&buf, Options{FlushInterval: time.Millisecond})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := 0; i < 2000; i++ {
			rec.Output([]byte("ö"))
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			rec.Resize(80, 24+i%3)
		}
	}()
	wg.Wait()
	rec.Close()
	_, evs := readAll(t, &buf)
	if got := string(outputOf(evs, KindOutput)); got != strings.Repeat("ö", 2000) {
		t.Errorf("concurrent output lost or reordered: %d bytes", len(got))
	}
}

// blockingWriter blocks every write until release is closed.
type blockingWriter struct {
	release chan struct{}
	buf     bytes.Buffer
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	<-w.release
	return w.buf.Write(p)
}

// TestSlowDiskDoesNotStallOutput: the session's goroutine only queues; a
// stalled disk holds the worker, not Output, until the queue is full.
func TestSlowDiskDoesNotStallOutput(t *testing.T) {
	w := &blockingWriter{release: make(chan struct{})}
	rec, err := New(w, Options{FlushInterval: time.Millisecond}) // the header write blocks the timer flush
	if err != nil {
		t.Fatal(err)
	}
	returned := make(chan struct{})
	go func() {
		for i := 0; i < queueLen; i++ {
			rec.Output(bytes.Repeat([]byte{'a' + byte(i)}, 1000))
		}
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Output blocked on a stalled writer before the queue was full")
	}
	close(w.release)
	if _, _, err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	_, evs := readAll(t, &w.buf)
	var want []byte
	for i := 0; i < queueLen; i++ {
		want = append(want, bytes.Repeat([]byte{'a' + byte(i)}, 1000)...)
	}
	if got := outputOf(evs, KindOutput); !bytes.Equal(got, want) {
		t.Errorf("after the stall: %d bytes, want %d in order", len(got), len(want))
	}
}
