package connect

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/crash"
	"gatehouse/internal/egress"
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
	onUnlock          func() // under mu: the idle watch's re-check, when there is one
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
		g.mu.Lock()
		poke := g.onUnlock
		g.mu.Unlock()
		if poke != nil {
			poke() // the idle times count from now
		}
	}
	g.cond.Broadcast()
	return true
}

// release opens the gate without a notice (a session being killed: its waiters go).
func (g *idleGate) release() {
	g.mu.Lock()
	g.locked = false
	g.cond.Broadcast()
	g.mu.Unlock()
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

// WriteOwned is Write for a relay that hands its buffer over (egress.OwnedWriter).
func (w *gatedWriter) WriteOwned(p []byte) ([]byte, error) {
	if err := w.g.wait(w.ctx); err != nil {
		return p, err
	}
	return egress.WriteOwned(w.w, p)
}

// idleWatch locks a relayed session after lock of input idleness and ends it (cancel) after
// kill, warning warnLock and warnKill before. It holds no goroutine, since idle sessions are
// many: a timer on the server's clock fires at the next instant something may be due; input
// since then only moves that instant later, so the check re-arms for the new one, and an unlock
// re-arms it at once (TestIdleWatchHoldsNoGoroutine).
type idleWatch struct {
	g                              *idleGate
	clk                            clock.Clock
	lock, kill, warnLock, warnKill time.Duration
	cancel                         func()
	killed                         *atomic.Bool
	onPanic                        func(*crash.Panic)
	// said is closed once the kill notice was written (or failed): the relay's end waits for
	// it, bounded (killNoticeBound).
	said      chan struct{}
	relayDone <-chan struct{}
	stuck     func()

	mu      sync.Mutex
	timer   clock.Timer
	stopped bool
	// warnedLock and warnedKill are the input instants (gate.last) the warnings were given
	// for; input since (last moved) lets them be given again. 0: not given.
	warnedLock, warnedKill int64
}

// startIdleWatch watches g until ctx ends. A panic in a check ends the session through onPanic.
// The returned channel is closed once a kill's notice was written (or failed); it stays open
// while no kill came.
// A relay that has not ended (relayDone) killStuckAfter after a kill (its output blocked on a
// client that stopped reading) is ended by stuck (nil: none).
func startIdleWatch(ctx context.Context, g *idleGate, clk clock.Clock, lock, kill, warnLock, warnKill time.Duration, cancel func(), killed *atomic.Bool, onPanic func(*crash.Panic),
	relayDone <-chan struct{}, stuck func()) (said <-chan struct{}) {
	w := &idleWatch{g: g, clk: clk, lock: lock, kill: kill, warnLock: warnLock, warnKill: warnKill, cancel: cancel, killed: killed, onPanic: onPanic,
		said: make(chan struct{}), relayDone: relayDone, stuck: stuck}
	g.mu.Lock()
	g.onUnlock = w.poke
	g.mu.Unlock()
	w.poke()
	context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.stopped = true
		if w.timer != nil {
			w.timer.Stop()
		}
		w.mu.Unlock()
	})
	return w.said
}

// killStuckAfter is how long a killed relay may take to end before its session is ended from
// the registry (its output blocked on a client that stopped reading).
const killStuckAfter = 2 * killNoticeBound

// endIfStuck ends the session when its relay outlives the kill by killStuckAfter.
func (w *idleWatch) endIfStuck() {
	defer crash.Recover(w.onPanic)
	due, t := clock.After(w.clk, killStuckAfter) // the server's clock: a test moves it
	defer t.Stop()
	select {
	case <-w.relayDone:
	case <-due:
		w.stuck()
	}
}

// killNoticeBound is how long a killed relay's end waits for the kill notice to be written:
// a reading client sees it before its channel closes, one that stopped reading holds nothing
// longer than this (the target's session is ended already).
const killNoticeBound = 2 * time.Second

// waitKillNotice waits, at most killNoticeBound on clk (the server's clock), for an idle kill's
// notice (said closed).
func waitKillNotice(clk clock.Clock, said <-chan struct{}) {
	if said == nil {
		return
	}
	due, t := clock.After(clk, killNoticeBound)
	defer t.Stop()
	select {
	case <-said:
	case <-due:
	}
}

// poke checks the gate now (on the clock's own goroutine, so a caller holding the gate is not
// re-entered).
func (w *idleWatch) poke() { w.arm(0) }

func (w *idleWatch) arm(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	w.timer = w.clk.AfterFunc(d, w.fire)
}

func (w *idleWatch) fire() {
	if p := crash.Catch(w.check); p != nil {
		w.onPanic(p)
	}
}

// check does what is due at the gate's idle time now, then arms the timer for the next instant
// something may be due (none while locked without a kill timeout: the unlock pokes).
func (w *idleWatch) check() {
	g := w.g
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	last := g.last.Load()
	idle := g.now().Sub(time.Unix(0, last))
	if w.warnedLock != last {
		w.warnedLock = 0
	}
	if w.warnedKill != last {
		w.warnedKill = 0
	}
	var warnKill, kill, warnLock, lock bool
	if w.kill > 0 {
		if w.warnKill > 0 && w.warnedKill == 0 && idle >= w.kill-w.warnKill {
			w.warnedKill, warnKill = last, true
		}
		if idle >= w.kill {
			kill, w.stopped = true, true
		}
	}
	locked := g.isLocked()
	if !kill && w.lock > 0 && !locked {
		if w.warnLock > 0 && w.warnedLock == 0 && idle >= w.lock-w.warnLock {
			w.warnedLock, warnLock = last, true
		}
		if idle >= w.lock {
			lock, locked = true, true
		}
	}
	next := time.Duration(-1)
	due := func(at time.Duration) {
		if at > idle && (next < 0 || at-idle < next) {
			next = at - idle
		}
	}
	if !kill {
		if w.kill > 0 {
			if w.warnKill > 0 && w.warnedKill == 0 {
				due(w.kill - w.warnKill)
			}
			due(w.kill)
		}
		if w.lock > 0 && !locked {
			if w.warnLock > 0 && w.warnedLock == 0 {
				due(w.lock - w.warnLock)
			}
			due(w.lock)
		}
	}
	if next >= 0 {
		// Armed under the lock, before the notices: a poke (an unlock, input) that comes while
		// they are written then wins over this check's older deadline.
		if w.timer != nil {
			w.timer.Stop()
		}
		w.timer = w.clk.AfterFunc(next, w.fire)
	}
	w.mu.Unlock()
	if kill {
		// The kill first: a client that stopped reading blocks a write to its terminal for as
		// long as it likes, and must not hold the session open by it. The notice is written
		// after, on a goroutine of its own (the relay's end waits for it a bounded time, so a
		// reading client still sees it); the gate opens without a notice of its own. A kill
		// warning due in the same check is not given: the kill says it all.
		w.killed.Store(true)
		w.cancel()
		g.release()
		msg := fmt.Sprintf("\r\n*** Idle for %s: closing this session (idle kill timeout). ***\r\n", idle.Round(time.Second))
		go func() {
			defer close(w.said)
			defer crash.Recover(func(*crash.Panic) {}) // the session is ended already: nothing more to end
			_, _ = io.WriteString(g.notice, msg)       // the client may be gone: the kill stands either way
		}()
		if w.stuck != nil {
			go w.endIfStuck()
		}
		return
	}
	// Writing to the user's terminal (which may block) and the gate's changes happen outside
	// the watch's lock: an unlock pokes it.
	if warnKill {
		fmt.Fprintf(g.notice, "\r\n*** Idle for %s: this session will be closed in %s without input. ***\r\n", idle.Round(time.Second), (w.kill - idle).Round(time.Second))
	}
	if warnLock {
		fmt.Fprintf(g.notice, "\r\n*** Idle for %s: this session will be locked in %s without input. ***\r\n", idle.Round(time.Second), (w.lock - idle).Round(time.Second))
	}
	if lock {
		g.setLocked(true, fmt.Sprintf(" after %s without input", w.lock))
	}
}
