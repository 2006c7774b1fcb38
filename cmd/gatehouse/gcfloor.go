package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// Why a floor under the garbage collector's headroom: a bulk relay allocates a new buffer for
// every SSH packet it reads (32 KiB, inside golang.org/x/crypto/ssh). On the small heap of a
// bastion with few sessions, gcPercent 50 gave a cycle every ~2 MiB relayed, ~100 per 256 MiB,
// and the collector took a fifth of gatehouse's CPU in a bulk relay (perf: mark workers 11 %,
// sweeping 5 %, assists 3 %). gcFloor lets the heap grow by at least gcHeadroom between
// cycles: after each cycle it sets the percent to what gives that headroom over the live heap,
// never under the configured gcPercent. A large heap (1,000 idle sessions and more, where
// gcPercent 50 already allows more than gcHeadroom) keeps exactly the configured percent, so
// memory per idle session does not change; a small one holds up to gcHeadroom of garbage.
const gcHeadroom = 32 << 20

// gcPercentCap bounds the percent gcFloor sets (a nearly empty heap would ask for a huge one).
const gcPercentCap = 2000

// gcPercentFor is the percent that gives at least headroom bytes of growth over live bytes, and
// never less than base.
func gcPercentFor(base int, live, headroom uint64) int {
	if live == 0 {
		return max(base, gcPercentCap)
	}
	need := headroom * 100 / live
	if need <= uint64(base) {
		return base
	}
	return int(min(need, gcPercentCap))
}

// gcFloor adjusts the collector's percent after every cycle (gcPercentFor). Stop ends it.
type gcFloor struct {
	base    atomic.Int64
	stopped atomic.Bool
	set     atomic.Int64 // the percent tune last set
	sample  []metrics.Sample
}

// startGCFloor sets the percent for the heap as it is and watches every later cycle.
func startGCFloor(base int) *gcFloor {
	g := &gcFloor{sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	g.base.Store(int64(base))
	g.tune()
	g.arm()
	return g
}

// SetBase changes the configured percent (a reload); it applies at once.
func (g *gcFloor) SetBase(base int) {
	g.base.Store(int64(base))
	debug.SetGCPercent(max(base, int(g.set.Load())))
}

// Stop leaves the percent as it is and stops watching.
func (g *gcFloor) Stop() { g.stopped.Store(true) }

// arm registers a cleanup on a fresh object: it runs once a cycle has collected it.
func (g *gcFloor) arm() {
	sentinel := new([64]byte) // not tiny-allocated: collected on its own
	runtime.AddCleanup(sentinel, func(g *gcFloor) {
		if g.stopped.Load() {
			return
		}
		g.tune()
		g.arm()
	}, g)
}

func (g *gcFloor) tune() {
	metrics.Read(g.sample)
	var live uint64
	if g.sample[0].Value.Kind() == metrics.KindUint64 {
		live = g.sample[0].Value.Uint64()
	}
	pct := gcPercentFor(int(g.base.Load()), live, gcHeadroom)
	if int64(pct) != g.set.Swap(int64(pct)) {
		debug.SetGCPercent(pct)
	}
}
