// Package clock is the one clock of the session path (app.Options.Clock): what time it is, and
// timers that fire once a span of that time has passed. The server runs on System; tests move a
// Fake forward instead of sleeping, and every timer of the path (account TTLs, idle lock and
// kill, the interactive mode's timeout) sees the move at once.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time and runs f once d has passed on it.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed on this clock, as
	// time.AfterFunc does; Stop on the result cancels it.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc.
type Timer interface {
	// Stop cancels the call; it reports whether it did (false: f ran or was stopped already).
	Stop() bool
}

// System is the machine's clock.
type System struct{}

// Now is time.Now.
func (System) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (System) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Or returns c, or System when c is nil.
func Or(c Clock) Clock {
	if c == nil {
		return System{}
	}
	return c
}

// After returns a channel that receives the clock's time once d has passed on c, and the timer
// to stop when the wait is abandoned (as time.NewTimer, on any clock).
func After(c Clock, d time.Duration) (<-chan time.Time, Timer) {
	ch := make(chan time.Time, 1)
	t := c.AfterFunc(d, func() { ch <- c.Now() })
	return ch, t
}

// Fake is the real time plus an offset that only moves forward, by Advance: the time still flows
// (an SSH client's timeouts and the network see real durations) but a test jumps over the long
// waits. Its timers fire when either the real time or an Advance reaches them. Safe for
// concurrent use.
type Fake struct {
	mu     sync.Mutex
	offset time.Duration
	timers map[*fakeTimer]struct{}
}

// Now is the real time plus what Advance added.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d and runs, each in its own goroutine, the timers that are
// now due.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	now := time.Now().Add(c.offset)
	var due []*fakeTimer
	for t := range c.timers {
		if !now.Before(t.at) {
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		t.fire()
	}
}

// AfterFunc runs f once d has passed on c: at the latest after d of real time, earlier when
// Advance moves past it.
func (c *Fake) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: time.Now().Add(c.offset + d), f: f}
	if c.timers == nil {
		c.timers = map[*fakeTimer]struct{}{}
	}
	c.timers[t] = struct{}{}
	// The real fallback: d of real time moves this clock by at least d.
	t.real = time.AfterFunc(d, t.fire)
	return t
}

type fakeTimer struct {
	c    *Fake
	at   time.Time
	f    func()
	real *time.Timer
}

// fire runs f once, whichever of the real timer and Advance comes first.
func (t *fakeTimer) fire() {
	if t.take() {
		t.real.Stop()
		go t.f()
	}
}

// take removes t from its clock; it reports whether t was still pending.
func (t *fakeTimer) take() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if _, ok := t.c.timers[t]; !ok {
		return false
	}
	delete(t.c.timers, t)
	return true
}

func (t *fakeTimer) Stop() bool {
	if !t.take() {
		return false
	}
	t.real.Stop()
	return true
}
