package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/store"
)

// Per-source penalties are shared by the handles (nodes): a failure counted through one is seen
// through the other, two handles counting at once both count, a state can be forgotten, and
// old states are swept.
func testSourcePenaltiesShared(t *testing.T, h Harness) {
	a := h.Fresh(t)
	b := h.Again(t, a)
	ctx := context.Background()
	if p, err := b.SourcePenalty(ctx, "192.0.2.7"); err != nil || p != (store.SourcePenalty{}) {
		t.Fatalf("unknown source: %+v %v", p, err)
	}
	now := time.Unix(1_800_000_000, 123).UTC()
	if err := a.UpdateSourcePenalty(ctx, "192.0.2.7", func(p *store.SourcePenalty) bool {
		p.Until, p.Active, p.Strikes, p.Last = now.Add(time.Minute), true, 3, now
		return true
	}); err != nil {
		t.Fatal(err)
	}
	want := store.SourcePenalty{Until: now.Add(time.Minute), Active: true, Strikes: 3, Last: now}
	if p, err := b.SourcePenalty(ctx, "192.0.2.7"); err != nil || !p.Until.Equal(want.Until) || !p.Last.Equal(want.Last) || p.Active != want.Active || p.Strikes != want.Strikes {
		t.Fatalf("through the other handle: %+v %v, want %+v", p, err, want)
	}
	const each = 40
	var wg sync.WaitGroup
	for _, s := range []store.Store{a, b} {
		wg.Go(func() {
			for range each {
				if err := s.UpdateSourcePenalty(ctx, "198.51.100.1", func(p *store.SourcePenalty) bool { p.Strikes++; return true }); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if p, _ := a.SourcePenalty(ctx, "198.51.100.1"); p.Strikes != 2*each {
		t.Fatalf("%d strikes counted by two handles at once, want %d", p.Strikes, 2*each)
	}
	if err := b.UpdateSourcePenalty(ctx, "198.51.100.1", func(p *store.SourcePenalty) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if p, _ := a.SourcePenalty(ctx, "198.51.100.1"); p != (store.SourcePenalty{}) {
		t.Fatalf("forgotten source still has %+v", p)
	}
	if n, err := a.ForgetSourcePenalties(ctx, now.Add(time.Second)); err != nil || n != 0 {
		t.Fatalf("sweep before the penalty ends: %d %v", n, err)
	}
	if n, err := b.ForgetSourcePenalties(ctx, now.Add(2*time.Minute)); err != nil || n != 1 {
		t.Fatalf("sweep after: %d %v", n, err)
	}
	if p, _ := a.SourcePenalty(ctx, "192.0.2.7"); p != (store.SourcePenalty{}) {
		t.Fatalf("swept source still has %+v", p)
	}
}
