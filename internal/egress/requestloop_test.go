package egress

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// fakeLoop is a user's session channel's request loop, lent to RunSession.
type fakeLoop struct {
	reqs     chan *ssh.Request
	lendable bool
	calls    []string
	wc       chan WindowChange
}

func (f *fakeLoop) Lend() (<-chan *ssh.Request, bool) {
	f.calls = append(f.calls, "lend")
	if !f.lendable {
		return nil, false
	}
	return f.reqs, true
}
func (f *fakeLoop) Handle(r *ssh.Request) {
	f.calls = append(f.calls, "handle "+r.Type)
	f.wc <- WindowChange{Cols: 200, Rows: 50}
}
func (f *fakeLoop) Closed() { f.calls = append(f.calls, "closed") }
func (f *fakeLoop) Return() { f.calls = append(f.calls, "return") }

// RunSession answers the user's channel's requests itself while it runs (a window change
// reaches the target), notes their end, and gives the loop back once; a loop it cannot
// borrow is left alone.
func TestRunSessionBorrowsRequestLoop(t *testing.T) {
	tg := newTarget(t)
	c, _ := tg.client(t)
	pty := &PtyRequest{Term: "xterm", Cols: 80, Rows: 24}
	wc := make(chan WindowChange, 1)
	f := &fakeLoop{reqs: make(chan *ssh.Request, 2), lendable: true, wc: wc}
	f.reqs <- &ssh.Request{Type: "window-change"}
	close(f.reqs)
	var out bytes.Buffer
	if _, _, err := RunSession(t.Context(), c, Request{Pty: pty, Command: "winch"}, Streams{Stdout: &out, WindowChanges: wc, Requests: f}); err != nil {
		t.Fatal(err)
	}
	if out.String() != "50 200\n" {
		t.Fatalf("after the window change %q, want 50 200", out.String())
	}
	if got := strings.Join(f.calls, ", "); got != "lend, handle window-change, closed, return" {
		t.Fatalf("calls %q", got)
	}
	f2 := &fakeLoop{}
	if _, _, err := RunSession(t.Context(), c, Request{Command: "echo hi"}, Streams{Stdout: io.Discard, Requests: f2}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f2.calls, ", "); got != "lend" {
		t.Fatalf("calls %q on a loop not lent", got)
	}
}
