package egress

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/crash"
)

// syncBuffer is a bytes.Buffer safe for a writer and a polling reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) waitFor(t testing.TB, sub string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.String(), sub) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q in %q", sub, s.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRunSessionExec(t *testing.T) {
	tg := newTarget(t)
	tests := []struct {
		cmd            string
		env            map[string]string
		status         int
		stdout, stderr string
	}{
		{cmd: "exit 42", status: 42},
		{cmd: "exit 0", status: 0},
		{cmd: "echo hello world", stdout: "hello world\n"},
		{cmd: "stderr oops", status: 3, stderr: "oops\n"},
		{cmd: "env LC_BASTION", env: map[string]string{"LC_BASTION": "alice"}, stdout: "alice\n"},
	}
	for _, tc := range tests {
		t.Run(tc.cmd, func(t *testing.T) {
			checkGoroutines(t, func() {
				c, _ := tg.client(t)
				defer c.Close()
				var out, errb bytes.Buffer
				status, sig, err := RunSession(t.Context(), c, Request{Command: tc.cmd, Env: tc.env}, Streams{Stdout: &out, Stderr: &errb})
				if err != nil || status != tc.status || sig != "" {
					t.Fatalf("status %d sig %q err %v, want %d", status, sig, err, tc.status)
				}
				if out.String() != tc.stdout || errb.String() != tc.stderr {
					t.Fatalf("stdout %q stderr %q, want %q %q", out.String(), errb.String(), tc.stdout, tc.stderr)
				}
			})
		})
	}
}

func TestRunSessionStdin(t *testing.T) {
	tg := newTarget(t)
	checkGoroutines(t, func() {
		c, _ := tg.client(t)
		defer c.Close()
		in := make([]byte, 3<<20+17) // several windows' worth, odd size
		rand.Read(in)
		var out bytes.Buffer
		status, _, err := RunSession(t.Context(), c, Request{Command: "cat"}, Streams{Stdin: bytes.NewReader(in), Stdout: &out})
		if err != nil || status != 0 {
			t.Fatalf("status %d err %v", status, err)
		}
		if !bytes.Equal(out.Bytes(), in) {
			t.Fatalf("cat returned %d bytes, want the %d sent", out.Len(), len(in))
		}
	})
}

func TestRunSessionPtyAndWindowChange(t *testing.T) {
	tg := newTarget(t)
	c, _ := tg.client(t)
	var out bytes.Buffer
	pty := &PtyRequest{Term: "xterm-256color", Cols: 132, Rows: 43, Modes: ssh.TerminalModes{ssh.ECHO: 1, ssh.TTY_OP_ISPEED: 38400}}
	if _, _, err := RunSession(t.Context(), c, Request{Pty: pty, Command: "size"}, Streams{Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "43 132\n" {
		t.Fatalf("size = %q, want the requested 43 132", out.String())
	}

	wc := make(chan WindowChange, 1)
	wc <- WindowChange{Cols: 200, Rows: 50}
	out.Reset()
	if _, _, err := RunSession(t.Context(), c, Request{Pty: pty, Command: "winch"}, Streams{Stdout: &out, WindowChanges: wc}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "50 200\n" {
		t.Fatalf("after window change = %q, want 50 200", out.String())
	}
}

func TestRunSessionSignal(t *testing.T) {
	tg := newTarget(t)
	checkGoroutines(t, func() {
		c, _ := tg.client(t)
		defer c.Close()
		sigs := make(chan string, 1)
		out := &syncBuffer{}
		go func() {
			out.waitFor(t, "ready")
			sigs <- string(ssh.SIGTERM)
		}()
		status, sig, err := RunSession(t.Context(), c, Request{Command: "waitsig"}, Streams{Stdout: out, Signals: sigs})
		if err != nil || sig != "TERM" || status != ExitStatus {
			t.Fatalf("status %d sig %q err %v, want exit-signal TERM", status, sig, err)
		}
	})
}

func TestRunSessionContextCancel(t *testing.T) {
	tg := newTarget(t)
	checkGoroutines(t, func() {
		c, _ := tg.client(t)
		defer c.Close()
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(100*time.Millisecond, cancel)
		stdin, stdinW := io.Pipe() // never written: the stdin reader stays blocked
		defer stdinW.Close()       // as the ingress side closes the user's channel
		start := time.Now()
		_, _, err := RunSession(ctx, c, Request{Command: "hang"}, Streams{Stdin: stdin})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("cancel took %s", d)
		}
	})
}

func TestRunSessionTargetEndsFirst(t *testing.T) {
	tg := newTarget(t)
	checkGoroutines(t, func() {
		c, _ := tg.client(t)
		defer c.Close()
		stdin, stdinW := io.Pipe() // the user types nothing; the target exits anyway
		defer stdinW.Close()
		status, _, err := RunSession(t.Context(), c, Request{Command: "exit 7"}, Streams{Stdin: stdin})
		if err != nil || status != 7 {
			t.Fatalf("status %d err %v", status, err)
		}
	})
}

func TestRunSessionNoExitStatus(t *testing.T) {
	tg := newTarget(t)
	c, _ := tg.client(t)
	status, _, err := RunSession(t.Context(), c, Request{Command: "noexit"}, Streams{})
	if !errors.Is(err, ErrNoExitStatus) || status != ExitStatus {
		t.Fatalf("status %d err %v", status, err)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n += len(p); f.n > 1<<20 {
		return 0, errors.New("user went away")
	}
	return len(p), nil
}

func TestRunSessionUserGoesAway(t *testing.T) {
	tg := newTarget(t)
	checkGoroutines(t, func() {
		c, _ := tg.client(t)
		defer c.Close()
		_, _, err := RunSession(t.Context(), c, Request{Command: "bulk 1000000000"}, Streams{Stdout: &failWriter{}})
		if err == nil || !strings.Contains(err.Error(), "user went away") {
			t.Fatalf("err = %v, want the writer's error", err)
		}
	})
}

func TestRunSessionBulk(t *testing.T) {
	tg := newTarget(t)
	c, _ := tg.client(t)
	var n countWriter
	const size = 64 << 20
	start := time.Now()
	status, _, err := RunSession(t.Context(), c, Request{Command: "bulk 67108864"}, Streams{Stdout: &n})
	if err != nil || status != 0 || n != size {
		t.Fatalf("status %d err %v, got %d bytes want %d", status, err, n, size)
	}
	t.Logf("in-process bulk: %.0f MiB/s", float64(size)/(1<<20)/time.Since(start).Seconds())
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }

// panicWriter is a session writer with a bug.
type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("writer fault") }

// TestRunSessionCarriesWriterPanic: a panic in a relay copy (a goroutine RunSession started)
// does not end the process; RunSession carries it to its caller, the session's recovery point,
// with the stack where it happened.
func TestRunSessionCarriesWriterPanic(t *testing.T) {
	tg := newTarget(t)
	c, _ := tg.client(t)
	defer c.Close()
	p := crash.Catch(func() {
		_, _, _ = RunSession(t.Context(), c, Request{Command: "echo hello"}, Streams{Stdout: panicWriter{}, Stderr: io.Discard})
	})
	if p == nil || p.Value != "writer fault" || !strings.Contains(string(p.Stack), "panicWriter") {
		t.Fatalf("RunSession with a panicking writer: %+v", p)
	}
}

// The target asks the bastion for global requests and channels back, more than x/crypto
// queues: each is refused, before a session (Dial's goroutine), while one runs (RunSession's
// own loop) and after it, and the session's output is intact.
func TestTargetRequestsRefusedAroundSessions(t *testing.T) {
	tg := newTarget(t)
	checkGoroutines(t, func() {
		c, _ := tg.client(t)
		defer c.Close()
		for i := range 3 {
			var out bytes.Buffer
			status, _, err := RunSession(t.Context(), c, Request{Command: "knock 20"}, Streams{Stdout: &out})
			if err != nil || status != 0 || out.String() != "refused 40 of 40\n" {
				t.Fatalf("session %d: status %d err %v output %q, want every request and channel refused", i+1, status, err, out.String())
			}
		}
	})
}

// An idle relayed session holds no goroutine of its own to refuse what the target asks of the
// connection: RunSession's loop answers it, and hands it back to a goroutine when it ends. What
// the target asks while the session idles is refused.
func TestIdleSessionHoldsNoRefusingGoroutine(t *testing.T) {
	tg := newTarget(t)
	c, _ := tg.client(t)
	defer c.Close()
	refusers := func() int {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		n := 0
		for _, g := range bytes.Split(buf, []byte("\n\n")) {
			if bytes.Contains(g, []byte("egress.refuseIncoming")) || bytes.Contains(g, []byte("egress.(*refusingConn).start")) {
				n++
			}
		}
		return n
	}
	waitRefusers := func(want int, when string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for refusers() != want {
			if time.Now().After(deadline) {
				t.Fatalf("%d refusing goroutines %s, want %d", refusers(), when, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitRefusers(1, "before the session (Dial's)")
	stdin, stdinW := io.Pipe()
	defer stdinW.Close()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		_, _, err := RunSession(t.Context(), c, Request{Command: "idle"}, Streams{Stdin: stdin, Stdout: out})
		done <- err
	}()
	out.waitFor(t, "ready\n")
	waitRefusers(0, "while the session idles")
	io.WriteString(stdinW, "go\n")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "refused 40 of 40") {
		t.Fatalf("output %q: the target's requests during the session were not all refused", out.String())
	}
	waitRefusers(1, "after the session (handed back)")
}
