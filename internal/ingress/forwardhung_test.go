package ingress

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/crash"
)

// TestForwardWatchStoreHangs: a re-check whose store does not answer (a PostgreSQL behind a
// partition: no error, no answer) must not keep a forwarded connection open. At the account's
// TTL it ends without the store (the TTL is the open's, never moved), and otherwise when the
// check has not answered by the next re-check's instant. Table over the TTL (none, before the
// next re-check).
func TestForwardWatchStoreHangs(t *testing.T) {
	for _, c := range []struct {
		name    string
		ttl     time.Duration // 0: none
		advance time.Duration // how far the clock moves in all
		want    string        // in the reason
	}{
		{name: "TTL passes while the check hangs", ttl: forwardRecheckEvery + 3*time.Second, advance: forwardRecheckEvery + 3*time.Second, want: "TTL has expired"},
		{name: "no TTL, the check hangs", advance: 2 * forwardRecheckEvery, want: "did not answer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := &clock.Fake{}
			var expires time.Time
			if c.ttl > 0 {
				expires = clk.Now().Add(c.ttl)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var reason atomic.Pointer[string]
			var checks atomic.Int32
			w := &forwardWatch{clk: clk, now: clk.Now, expires: expires, ctx: ctx,
				check: func(ctx context.Context) error {
					checks.Add(1)
					<-ctx.Done() // the store hangs until the forward's context ends
					return ctx.Err()
				},
				end:     func(why string) { reason.Store(&why); cancel() },
				onPanic: func(p *crash.Panic) { t.Errorf("panic: %v", p) }}
			w.arm()
			defer w.stop()
			clk.Advance(forwardRecheckEvery)
			for deadline := time.Now().Add(5 * time.Second); checks.Load() == 0; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("no re-check")
				}
			}
			clk.Advance(c.advance - forwardRecheckEvery)
			for deadline := time.Now().Add(5 * time.Second); reason.Load() == nil; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the forward is still open %s after its re-check hung", c.advance-forwardRecheckEvery)
				}
			}
			if got := *reason.Load(); !strings.Contains(got, c.want) {
				t.Fatalf("ended with %q, want %q in it", got, c.want)
			}
		})
	}
}
