package ingress

import (
	"bytes"
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/termsize"
)

// fakeChannel is the user's session channel as the request loop uses it: what it sends and
// whether it was closed.
type fakeChannel struct {
	ssh.Channel
	mu     sync.Mutex
	sent   []string
	closed bool
}

func (f *fakeChannel) SendRequest(name string, _ bool, _ []byte) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, name)
	return true, nil
}
func (f *fakeChannel) CloseWrite() error { return nil }
func (f *fakeChannel) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}
func (f *fakeChannel) state() ([]string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.sent...), f.closed
}

func newLendable(t *testing.T) (*sessionRequests, chan *ssh.Request, *fakeChannel, *channels) {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	s := &Server{}
	ch := &fakeChannel{}
	reqs := make(chan *ssh.Request)
	c := s.channels(nil, "alice", nil)
	h := &sessionRequests{s: s, sctx: ctx, cancel: cancel, ch: ch, reqs: reqs, env: map[string]string{},
		resize: make(chan termsize.Size, 4), signals: make(chan string, 4), done: make(chan int, 1),
		lend: make(chan struct{}), chans: c, started: true}
	s.sessions.Add(1)
	c.open.Add(1)
	c.wg.Add(1)
	go c.run(h.serve)
	return h, reqs, ch, c
}

// loops counts the goroutines in a session channel's request loop.
func loops() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("ingress.(*sessionRequests).loop("))
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A relay takes the session channel's request loop over while it waits (one goroutine and its
// stack fewer per idle relayed session): the loop's goroutine ends, the channel stays counted
// and open, the relay answers the requests, and the loop starts again when it gives them back,
// then ends the session as before (exit status, channel closed, no longer counted).
func TestRelayedSessionLendsItsRequestLoop(t *testing.T) {
	h, reqs, ch, c := newLendable(t)
	lentReqs, ok := h.Lend()
	if !ok || lentReqs != (<-chan *ssh.Request)(reqs) {
		t.Fatal("the loop was not lent")
	}
	waitUntil(t, "the loop's goroutine to end", func() bool { return loops() == 0 })
	if got := c.open.Load(); got != 1 {
		t.Fatalf("%d channels counted while lent, want 1", got)
	}
	if _, closed := ch.state(); closed {
		t.Fatal("the channel was closed when the loop was lent")
	}
	// The borrower answers: a window change reaches the relay's channel.
	h.Handle(&ssh.Request{Type: "window-change", Payload: ssh.Marshal(windowChange{Cols: 200, Rows: 50})})
	if sz := <-h.resize; sz.Cols != 200 || sz.Rows != 50 {
		t.Fatalf("window change %+v, want 200x50", sz)
	}
	h.Return()
	waitUntil(t, "the loop to run again", func() bool { return loops() == 1 })
	h.done <- 7
	waitUntil(t, "the session to end", func() bool { return c.open.Load() == 0 })
	c.wait()
	sent, closed := ch.state()
	if len(sent) != 1 || sent[0] != "exit-status" || !closed {
		t.Fatalf("sent %v, closed %v: want the exit status and the channel closed", sent, closed)
	}
	if h.s.sessions.Load() != 0 {
		t.Fatal("the session is still counted")
	}
}

// The client closes the channel while its loop is lent: the borrower's Closed stops what runs,
// and the loop, given back, waits for it to end and closes the channel. A loop that is ending
// (what runs was stopped) is not lent.
func TestLentRequestLoopClosedByClient(t *testing.T) {
	h, reqs, ch, c := newLendable(t)
	if _, ok := h.Lend(); !ok {
		t.Fatal("the loop was not lent")
	}
	close(reqs)
	h.Closed()
	if h.sctx.Err() == nil {
		t.Fatal("Closed did not stop what runs")
	}
	h.Return()
	waitUntil(t, "the loop to wait for what runs", func() bool {
		_, ok := h.Lend()
		return !ok
	})
	if _, closed := ch.state(); closed {
		t.Fatal("closed before what runs ended")
	}
	h.done <- 0
	waitUntil(t, "the channel to be closed", func() bool { _, closed := ch.state(); return closed })
	c.wait()
	if c.open.Load() != 0 {
		t.Fatal("the channel is still counted")
	}
}
