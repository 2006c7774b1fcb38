package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		base     int
		live     uint64
		headroom uint64
		want     int
		what     string
	}{
		{50, 4 * mib, 32 * mib, 800, "a small heap gets the headroom"},
		{50, 64 * mib, 32 * mib, 50, "the configured percent gives the headroom already"},
		{50, 1400 * mib, 32 * mib, 50, "10,000 idle sessions: the configured percent"},
		{50, 63 * mib, 32 * mib, 50, "just under: rounding down keeps the base"},
		{50, 60 * mib, 32 * mib, 53, "just over the base"},
		{200, 4 * mib, 32 * mib, 800, "a larger base, small heap"},
		{1000, 4 * mib, 32 * mib, 1000, "a base above what the headroom needs"},
		{50, 1 * mib, 32 * mib, gcPercentCap, "capped"},
		{50, 0, 32 * mib, gcPercentCap, "nothing live yet"},
		{3000, 0, 32 * mib, 3000, "never under the base"},
	} {
		if got := gcPercentFor(c.base, c.live, c.headroom); got != c.want {
			t.Errorf("%s: gcPercentFor(%d, %d, %d) = %d, want %d", c.what, c.base, c.live, c.headroom, got, c.want)
		}
	}
}

// TestGCFloorCutsCyclesOfABulkRelay: 256 MiB allocated in 32 KiB buffers (what x/crypto/ssh
// does for a 256 MiB relay) on a small heap with gcPercent 50 runs the collector about a
// hundred times; with the floor, a handful.
func TestGCFloorCutsCyclesOfABulkRelay(t *testing.T) {
	old := debug.SetGCPercent(50)
	defer debug.SetGCPercent(old)
	cycles := func() uint32 {
		runtime.GC()
		var st runtime.MemStats
		runtime.ReadMemStats(&st)
		n := st.NumGC
		var keep []byte
		for range 8192 {
			keep = make([]byte, 32<<10)
		}
		runtime.KeepAlive(keep)
		runtime.ReadMemStats(&st)
		return st.NumGC - n
	}
	without := cycles()
	g := startGCFloor(50)
	with := cycles()
	g.Stop()
	debug.SetGCPercent(50)
	t.Logf("GC cycles for 256 MiB of 32 KiB buffers: %d with gcPercent 50, %d with the floor", without, with)
	if with > 20 || with*4 > without {
		t.Fatalf("%d cycles with the floor, %d without", with, without)
	}
}
