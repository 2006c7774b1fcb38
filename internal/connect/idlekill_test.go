package connect

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/crash"
)

// blockedTerminal is a client that stopped reading: every write blocks until released.
type blockedTerminal struct {
	release chan struct{}
	writes  atomic.Int32
	got     syncBuffer
}

func (b *blockedTerminal) Write(p []byte) (int, error) {
	b.writes.Add(1)
	<-b.release
	return b.got.Write(p)
}

// TestIdleKillNotBlockedByNonReadingClient: the idle kill ends the session (cancel) although
// writing to the client blocks (it stopped reading): the kill comes first, the notice after on
// its own goroutine (was: the notice first, and a blocked write held the kill back for as long
// as the client liked). The warnings given before had blocked as well; the kill is armed apart
// from them. The notice still reaches a client that reads again, and said tells the relay's end.
// A relay that outlives the kill (its own output blocked) is ended from the registry.
func TestIdleKillNotBlockedByNonReadingClient(t *testing.T) {
	for _, warn := range []time.Duration{0, time.Minute} {
		t.Run("warn="+warn.String(), func(t *testing.T) {
			clk := &clock.Fake{}
			ctx, stop := context.WithCancel(context.Background())
			defer stop()
			term := &blockedTerminal{release: make(chan struct{})}
			g := newIdleGate(ctx, term, clk.Now)
			var killed, ended atomic.Bool
			var stuck atomic.Bool
			relayDone := make(chan struct{}) // the relay's output stays blocked: it never ends by itself
			said := startIdleWatch(ctx, g, clk, 0, 10*time.Minute, 0, warn, func() { ended.Store(true) }, &killed,
				func(p *crash.Panic) { t.Errorf("panic: %v", p) }, relayDone, func() { stuck.Store(true) })
			if warn > 0 {
				clk.Advance(9*time.Minute + time.Second)
				waitFor(t, "the kill warning to block", func() bool { return term.writes.Load() == 1 })
			}
			clk.Advance(10*time.Minute + time.Second)
			waitFor(t, "the idle kill while the client does not read", func() bool { return ended.Load() })
			if !killed.Load() {
				t.Fatal("ended, but not as an idle kill")
			}
			select {
			case <-said:
				t.Fatal("the kill notice said written while the client does not read")
			default:
			}
			// The relay outlives the kill (its output blocked too): the session is ended from the
			// registry, which closes the client's channel, killStuckAfter later.
			// The clock is moved past the bound (again until seen: the timer may be armed after
			// a move).
			waitFor(t, "a killed relay that did not end to be ended from the registry", func() bool {
				clk.Advance(killStuckAfter)
				return stuck.Load()
			})
			close(term.release) // the client reads again
			select {
			case <-said:
			case <-time.After(5 * time.Second):
				t.Fatal("the kill notice was never written")
			}
			if !strings.Contains(term.got.String(), "closing this session (idle kill timeout)") {
				t.Fatalf("the client got %q", term.got.String())
			}
		})
	}
}

// TestWaitKillNoticeBounded: the relay's end waits for the kill notice at most killNoticeBound.
func TestWaitKillNoticeBounded(t *testing.T) {
	clk := &clock.Fake{}
	done := make(chan struct{})
	go func() { waitKillNotice(clk, make(chan struct{})); close(done) }() // never written
	waitFor(t, "the wait to end once the clock passes killNoticeBound", func() bool {
		select {
		case <-done:
			return true
		default:
		}
		clk.Advance(killNoticeBound)
		return false
	})
	if time.Until(clk.Now()) < killNoticeBound {
		t.Fatalf("the wait ended before the clock passed killNoticeBound (offset %v)", time.Until(clk.Now()))
	}
	waitKillNotice(clk, nil) // no idle watch: no wait
}
