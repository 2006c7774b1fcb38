package connect

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/crash"
)

// syncBuffer is the user's terminal: the watch writes to it from its timers.
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

// waitFor polls cond (the watch acts on its clock's goroutines) until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// An idle session's lock and kill timeouts hold no goroutine while the session waits (one per
// session before: a 250 ms ticker's loop), and still warn, lock, re-arm after an unlock and
// after input, and kill, on the server's clock.
func TestIdleWatchHoldsNoGoroutine(t *testing.T) {
	clk := &clock.Fake{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	g := newIdleGate(ctx, &out, clk.Now)
	var killed atomic.Bool
	var ended atomic.Bool
	before := runtime.NumGoroutine()
	const n = 50
	for range n {
		startIdleWatch(ctx, newIdleGate(ctx, &syncBuffer{}, clk.Now), clk, time.Hour, 2*time.Hour, time.Minute, time.Minute, func() {}, new(atomic.Bool), func(*crash.Panic) {}, nil, nil)
	}
	startIdleWatch(ctx, g, clk, 10*time.Minute, 30*time.Minute, time.Minute, 2*time.Minute, func() { ended.Store(true) }, &killed, func(p *crash.Panic) { t.Errorf("panic: %v", p) }, nil, nil)
	time.Sleep(20 * time.Millisecond) // the first checks run on their own goroutines, then end
	waitFor(t, "the first checks to end", func() bool { return runtime.NumGoroutine() <= before+2 })
	if got := runtime.NumGoroutine() - before; got > 2 {
		t.Fatalf("%d goroutines for %d idle watches", got, n+1)
	}

	clk.Advance(9*time.Minute + time.Second)
	waitFor(t, "the lock warning", func() bool { return strings.Contains(out.String(), "will be locked in") })
	clk.Advance(time.Minute)
	waitFor(t, "the idle lock", func() bool { return g.isLocked() })
	if !strings.Contains(out.String(), "locked after 10m0s without input") {
		t.Fatalf("no lock notice: %q", out.String())
	}
	// An unlock counts the idle time from then: the lock is due 10 minutes later again.
	g.setLocked(false, "")
	clk.Advance(8 * time.Minute)
	time.Sleep(20 * time.Millisecond)
	if g.isLocked() {
		t.Fatal("locked again 8 minutes after the unlock")
	}
	clk.Advance(2*time.Minute + time.Second)
	waitFor(t, "the lock after the unlock", func() bool { return g.isLocked() })
	g.setLocked(false, "")
	// Input moves the deadlines: 29 minutes after the unlock but 5 after the input, no kill.
	clk.Advance(24 * time.Minute)
	g.last.Store(clk.Now().UnixNano())
	clk.Advance(5 * time.Minute)
	time.Sleep(20 * time.Millisecond)
	if ended.Load() {
		t.Fatal("killed although input came 5 minutes ago")
	}
	clk.Advance(23*time.Minute + time.Second)
	waitFor(t, "the kill warning", func() bool { return strings.Contains(out.String(), "will be closed in") })
	clk.Advance(2 * time.Minute)
	waitFor(t, "the idle kill", func() bool { return ended.Load() })
	// The notice follows the kill, on its own goroutine.
	waitFor(t, "the kill notice", func() bool { return strings.Contains(out.String(), "closing this session (idle kill timeout)") })
	if !killed.Load() {
		t.Fatalf("kill not reported: killed=%v %q", killed.Load(), out.String())
	}
}
