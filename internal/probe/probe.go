// Package probe waits for a host to answer, once a second: The Bastion's alive plugin (ICMP,
// with the system's ping) and its --wait option (a TCP connect to the target's port).
package probe

import (
	"context"
	"errors"
	"net"
	"time"
)

// Waiter waits until a probe succeeds, once a second: alive's loop and --wait's. Probe answers
// whether the host answered; Sleep waits (or returns the context's error); Now is the clock.
type Waiter struct {
	Probe func(ctx context.Context) bool
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
	// Max is how many probes at most (0: until the context ends); Every, when set, is told
	// every Every failed probes how long it has waited ("Still trying …").
	Max      int
	Every    int
	Progress func(waited time.Duration)
}

// ErrNeverAnswered is Wait's error when Max probes all failed.
var ErrNeverAnswered = errors.New("the host never answered")

// Wait probes until the host answers and returns how long it waited, in whole seconds.
func (w Waiter) Wait(ctx context.Context) (int, error) {
	start := w.Now()
	for n := 1; w.Max == 0 || n <= w.Max; n++ {
		if w.Probe(ctx) {
			return int(w.Now().Sub(start) / time.Second), nil
		}
		if err := w.Sleep(ctx, time.Second); err != nil {
			return int(w.Now().Sub(start) / time.Second), err
		}
		if w.Every > 0 && w.Progress != nil && n%w.Every == 0 {
			w.Progress(w.Now().Sub(start))
		}
	}
	return int(w.Now().Sub(start) / time.Second), ErrNeverAnswered
}

// SleepCtx sleeps d, or less if ctx ends first (then it returns ctx's error).
func SleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TCP is --wait's probe: whether a TCP connection to addr opens within a second (The Bastion's
// IO::Socket::INET with Timeout 1).
func TCP(addr string) func(ctx context.Context) bool {
	return func(ctx context.Context) bool {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		c, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
		if err != nil {
			return false
		}
		_ = c.Close() // a probe: nothing sent, nothing to report
		return true
	}
}
