package connect

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// Locks holds the relayed sessions of each account that can be locked and unlocked (the lock
// and unlock commands, and the idle lock). It is safe for concurrent use.
type Locks struct {
	mu       sync.Mutex
	sessions map[string]map[*idleGate]struct{}
}

// NewLocks returns an empty registry.
func NewLocks() *Locks { return &Locks{sessions: map[string]map[*idleGate]struct{}{}} }

func (l *Locks) add(account string, g *idleGate) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sessions[account] == nil {
		l.sessions[account] = map[*idleGate]struct{}{}
	}
	l.sessions[account][g] = struct{}{}
}

func (l *Locks) remove(account string, g *idleGate) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.sessions[account], g)
}

// Set locks (true) or unlocks every relayed session of account; it returns how many it changed.
func (l *Locks) Set(account string, locked bool) int {
	l.mu.Lock()
	gates := make([]*idleGate, 0, len(l.sessions[account]))
	for g := range l.sessions[account] {
		gates = append(gates, g)
	}
	l.mu.Unlock()
	n := 0
	for _, g := range gates {
		if g.setLocked(locked, "") {
			n++
		}
	}
	return n
}

// idleGate watches a relayed session's input. While locked, input is not forwarded and output
// waits (the target pauses when the SSH window fills), so nothing shows on an unattended screen.
type idleGate struct {
	last   atomic.Int64 // unix nanoseconds of the last input
	mu     sync.Mutex
	cond   *sync.Cond
	locked bool
	notice io.Writer // where lock and unlock messages go (the user's terminal)
	now    func() time.Time
	// started and lockedAt (under mu) let a lock or unlock a node missed be replayed only onto
	// the sessions it was meant for (lockreplay.go).
	started, lockedAt time.Time
}

// newIdleGate returns a gate that releases its waiters when ctx ends; now is the server's clock
// (a test moves it to reach the idle timeouts without waiting).
func newIdleGate(ctx context.Context, notice io.Writer, now func() time.Time) *idleGate {
	g := &idleGate{notice: notice, now: now, started: now()}
	g.cond = sync.NewCond(&g.mu)
	g.last.Store(now().UnixNano())
	context.AfterFunc(ctx, func() {
		g.mu.Lock()
		g.cond.Broadcast()
		g.mu.Unlock()
	})
	return g
}

func (g *idleGate) setLocked(locked bool, why string) bool {
	g.mu.Lock()
	changed := g.locked != locked
	g.locked = locked
	if changed && locked {
		g.lockedAt = g.now()
	}
	g.mu.Unlock()
	if !changed {
		return false
	}
	if locked {
		fmt.Fprintf(g.notice, "\r\n*** This session is locked%s. Run `--osh unlock' from another session to unlock it. ***\r\n", why)
	} else {
		g.last.Store(g.now().UnixNano())
		fmt.Fprintf(g.notice, "\r\n*** Session unlocked. ***\r\n")
	}
	g.cond.Broadcast()
	return true
}

func (g *idleGate) isLocked() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.locked
}

// wait blocks while the gate is locked, or until ctx ends.
func (g *idleGate) wait(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.locked && ctx.Err() == nil {
		g.cond.Wait()
	}
	return ctx.Err()
}

type gatedReader struct {
	g *idleGate
	r io.Reader
}

func (r *gatedReader) Read(p []byte) (int, error) {
	for {
		n, err := r.r.Read(p)
		if n > 0 {
			if r.g.isLocked() {
				continue // keystrokes on a locked session are dropped
			}
			r.g.last.Store(r.g.now().UnixNano())
		}
		return n, err
	}
}

type gatedWriter struct {
	ctx context.Context
	g   *idleGate
	w   io.Writer
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	if err := w.g.wait(w.ctx); err != nil {
		return 0, err
	}
	return w.w.Write(p)
}

// watchIdle locks the gate after lock of input idleness and ends the session (cancel) after kill,
// warning warnKill before. It returns when ctx ends. It looks at the gate's clock every 250 ms
// of real time, so a moved clock is seen within that.
func watchIdle(ctx context.Context, g *idleGate, lock, kill, warnLock, warnKill time.Duration, cancel func(), killed *atomic.Bool) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	warnedLock, warnedKill := false, false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		idle := g.now().Sub(time.Unix(0, g.last.Load()))
		if idle < time.Second {
			warnedLock, warnedKill = false, false
		}
		if kill > 0 {
			if warnKill > 0 && !warnedKill && idle >= kill-warnKill {
				warnedKill = true
				fmt.Fprintf(g.notice, "\r\n*** Idle for %s: this session will be closed in %s without input. ***\r\n", idle.Round(time.Second), (kill - idle).Round(time.Second))
			}
			if idle >= kill {
				fmt.Fprintf(g.notice, "\r\n*** Idle for %s: closing this session (idle kill timeout). ***\r\n", idle.Round(time.Second))
				killed.Store(true)
				g.setLocked(false, "")
				cancel()
				return
			}
		}
		if lock > 0 && !g.isLocked() {
			if warnLock > 0 && !warnedLock && idle >= lock-warnLock {
				warnedLock = true
				fmt.Fprintf(g.notice, "\r\n*** Idle for %s: this session will be locked in %s without input. ***\r\n", idle.Round(time.Second), (lock - idle).Round(time.Second))
			}
			if idle >= lock {
				g.setLocked(true, fmt.Sprintf(" after %s without input", lock))
			}
		}
	}
}
