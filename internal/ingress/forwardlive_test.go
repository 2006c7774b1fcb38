package ingress

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/accessdb"
	"gatehouse/internal/clock"
	"gatehouse/internal/crash"
)

// TestForwardVerdictTable: the one decision of a forward, new or live (forwardVerdict), over
// every combination of its inputs: the store answered or not, the account found (same
// identity) or not, the connection's key still the account's or removed, the account active,
// frozen or past its TTL, the grants (none, SSH only, SSH + both forward grants, the same
// expired), and the three directions. A forward is granted only when all hold; the first
// refusal of the store's facts is the one said.
func TestForwardVerdictTable(t *testing.T) {
	now := time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("10.0.0.5")
	const granted = 5432
	pk := []access.Key{{ID: "p1"}}
	ssh := access.Entry{Host: "10.0.0.5", User: "root", Port: 22}
	local := access.Entry{Host: "10.0.0.5", User: "!forward", Port: granted}
	remote := access.Entry{Host: "10.0.0.5", User: "!remote-forward", Port: granted}
	expired := func(es ...access.Entry) []access.Entry {
		var out []access.Entry
		for _, e := range es {
			e.Expiry = now.Add(-time.Second)
			out = append(out, e)
		}
		return out
	}
	accounts := []struct {
		name string
		acct access.Account
		ok   bool
	}{
		{"active", access.Account{Name: "alice", EgressKeys: pk}, true},
		{"frozen", access.Account{Name: "alice", EgressKeys: pk, Frozen: true}, false},
		{"ttl passed", access.Account{Name: "alice", EgressKeys: pk, Expiry: now.Add(-time.Second)}, false},
	}
	grants := []struct {
		name     string
		personal []access.Entry
		ok       bool
	}{
		{"none", nil, false},
		{"ssh only", []access.Entry{ssh}, false},
		{"ssh + forward + remote-forward", []access.Entry{ssh, local, remote}, true},
		{"the same, expired (revoked by time)", append([]access.Entry{ssh}, expired(local, remote)...), false},
	}
	target := access.Target{User: "root", Host: "10.0.0.5", IP: ip, Port: 22}
	dest := access.Target{Host: "10.0.0.5", IP: ip, Port: granted}
	requests := []access.ForwardRequest{
		{Direction: access.ForwardLocal, Target: dest},
		{Direction: access.ForwardThrough, Target: target, Dest: dest},
		{Direction: access.ForwardRemote, Target: target, BindPort: granted},
	}
	n := 0
	for _, read := range []bool{true, false} {
		for _, found := range []bool{true, false} {
			for _, keyOK := range []bool{true, false} {
				for _, a := range accounts {
					for _, g := range grants {
						for _, r := range requests {
							name := fmt.Sprintf("read=%v/found=%v/key=%v/%s/%s/%s", read, found, keyOK, a.name, g.name, r.Direction)
							f := forwardFacts{Read: read, Found: found, KeyOK: keyOK,
								Inputs: accessdb.Inputs{Account: a.acct, Personal: g.personal}}
							d, err := forwardVerdict(now, f, r)
							want := read && found && keyOK && a.ok && g.ok
							if (err == nil) != want {
								t.Errorf("%s: err %v, want granted=%v", name, err, want)
								continue
							}
							var first error
							switch {
							case !read:
								first = errAccessesUnread
							case !found:
								first = errForwardNoAccount
							case !keyOK:
								first = errForwardKeyGone
							}
							if first != nil && !errors.Is(err, first) {
								t.Errorf("%s: refused with %v, want %v", name, err, first)
							}
							if want && len(d.Keys()) == 0 && r.Direction != access.ForwardLocal {
								t.Errorf("%s: granted without the keys to log in to the target", name)
							}
							n++
						}
					}
				}
			}
		}
	}
	if n != 2*2*2*len(accounts)*len(grants)*len(requests) {
		t.Fatalf("%d cases", n)
	}
}

// TestForwardWatchOnTheClock: a live forward is re-checked on the server's clock, every
// forwardRecheckEvery, and at the account's TTL if sooner; a refusing check ends it with the
// refusal as the reason; a stopped watch checks nothing more. Nothing waits for real time: the
// clock is moved.
func TestForwardWatchOnTheClock(t *testing.T) {
	type result struct {
		checks atomic.Int32
		reason atomic.Pointer[string]
	}
	start := func(clk *clock.Fake, expires time.Time, refuseAt int32) (*forwardWatch, *result) {
		r := &result{}
		w := &forwardWatch{clk: clk, now: clk.Now, expires: expires, ctx: context.Background(),
			check: func(context.Context) error {
				if r.checks.Add(1) >= refuseAt {
					return errors.New("refused now")
				}
				return nil
			},
			end:     func(why string) { r.reason.Store(&why) },
			onPanic: func(p *crash.Panic) { t.Errorf("panic: %v", p) }}
		w.arm()
		return w, r
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	// Every forwardRecheckEvery; the second check refuses and ends it.
	clk := &clock.Fake{}
	_, r := start(clk, time.Time{}, 2)
	clk.Advance(forwardRecheckEvery - time.Second)
	if n := r.checks.Load(); n != 0 {
		t.Fatalf("%d checks before forwardRecheckEvery", n)
	}
	clk.Advance(time.Second)
	until("the first re-check", func() bool { return r.checks.Load() == 1 })
	if r.reason.Load() != nil {
		t.Fatal("ended by a check that granted it")
	}
	clk.Advance(forwardRecheckEvery)
	until("the refusal to end it", func() bool { return r.reason.Load() != nil })
	if got := *r.reason.Load(); got != "refused now" {
		t.Fatalf("ended with %q", got)
	}

	// The TTL sooner than the next re-check: checked at its instant.
	clk = &clock.Fake{}
	_, r = start(clk, clk.Now().Add(3*time.Second), 1)
	clk.Advance(3 * time.Second)
	until("the check at the TTL", func() bool { return r.reason.Load() != nil })

	// Stopped: nothing more.
	clk = &clock.Fake{}
	w, r := start(clk, time.Time{}, 1)
	w.stop()
	clk.Advance(2 * forwardRecheckEvery)
	time.Sleep(10 * time.Millisecond) // a check wrongly armed would run on its own goroutine
	if n := r.checks.Load(); n != 0 {
		t.Fatalf("%d checks after stop", n)
	}
}
