package record

// Compress at rest, on idle CPU: while output streams, a gatehouse recording may store its
// compressible chunks as they are (the copy, the SHA-256 and the write are all the hot path
// pays), and a Compactor rewrites the closed file with s2 chunks later, on a thread the kernel
// runs only when nothing else wants the CPU (compact.go). This file holds the decision, per
// chunk, and the node's budget of bytes waiting to be compacted. docs/recording.md, "Compress
// at rest".

import (
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/s2"
)

// chunkPlan is what a recorder does with a chunk of events.
type chunkPlan int

const (
	planCompress chunkPlan = iota // s2 now, on the recorder's worker (as before deferral)
	planStore                     // as is, for good: s2 would find nothing (random, base64)
	planDefer                     // as is now, s2 later by the compactor
)

func (p chunkPlan) String() string {
	return [...]string{"compress", "store", "defer"}[p]
}

// sampleClass is what a small s2 probe of a chunk says of its bytes.
type sampleClass int

const (
	sampleCheap          sampleClass = iota // runs (zeros, a repeated screen): s2 runs at memory speed and keeps < 1/16
	sampleCompressible                      // text (a log): s2 keeps ~1/3 for ~1.3 CPU-s per GiB
	sampleIncompressible                    // s2 would not shrink it by 1/64
)

// chunkFacts are the inputs of planChunk.
type chunkFacts struct {
	deferring  bool        // the recording has a budget to defer into (Options.Defer)
	full       bool        // written because chunkRaw bytes waited (streaming), not by a flush or Close
	sample     sampleClass // the probe of the chunk (only looked at when deferring a full chunk)
	overBudget bool        // the node's uncompacted bytes would pass the budget, its disk is low, or
	// the file is past half its size cap (recordingMaxBytes applies to the bytes in the file:
	// a log stored raw would reach it at a third of the output it holds compressed)
}

// planChunk decides, for one chunk, between compressing now, storing as is for good, and
// storing as is to compact later. The rules, in order:
//   - no budget (no compactor), or a chunk written by a flush or at Close (a terminal's few
//     lines a second, cheap to compress, and a typing session then needs no compaction):
//     compress now, as before.
//   - runs (zeros): compress now: s2 passes over them at memory speed (0.06 CPU-s per GiB)
//     and hashing and writing them raw would cost 20× more (512 MiB of zeros stays < 1 MiB).
//   - incompressible (random, base64): store as is for good; the compactor would find
//     nothing either.
//   - compressible text: defer, unless the node's uncompacted bytes would pass the budget or
//     its disk is low: then compress now (the cost of today, never a disk filled by raw text).
func planChunk(f chunkFacts) chunkPlan {
	if !f.deferring || !f.full {
		return planCompress
	}
	switch f.sample {
	case sampleCheap:
		return planCompress
	case sampleIncompressible:
		return planStore
	}
	if f.overBudget {
		return planCompress
	}
	return planDefer
}

// probeLen is the size of each of the three probes of a full chunk (its start, middle and end):
// 3 × 4 KiB of s2 per 512 KiB chunk, 2.3 % of compressing it.
const probeLen = 4 << 10

// classify probes raw with s2 on three slices and classifies it by the best of them (a chunk
// that is half text is text).
func classify(raw []byte, scratch []byte) sampleClass {
	if len(raw) < 3*probeLen {
		return sampleCompressible
	}
	best := probeLen
	for _, off := range [3]int{0, len(raw) / 2, len(raw) - probeLen} {
		best = min(best, len(s2.Encode(scratch[:cap(scratch)], raw[off:off+probeLen])))
	}
	switch {
	case best < probeLen/16:
		return sampleCheap
	case best > probeLen-probeLen/64:
		return sampleIncompressible
	}
	return sampleCompressible
}

// Deferral is a node's budget of recording bytes stored as is and not yet compacted. Every
// recorder of the node shares it (Options.Defer); the Compactor releases each file's bytes once
// compacted. Past the budget, or when the recordings' disk has less free space than MinFree plus
// what waits, recorders compress inline as before deferral.
type Deferral struct {
	// Budget bounds the uncompacted bytes of the node (open recordings and queued files).
	Budget int64
	// MinFree is the free space kept on the recordings' disk beyond the pending bytes (the
	// compaction of a file needs room for its compacted copy before it replaces it).
	MinFree int64
	// Dir is on the recordings' disk (statfs); "" skips the free space rule.
	Dir string
	// free, when set, replaces statfs (tests).
	free func() int64

	pending atomic.Int64
}

// take reserves n bytes for a deferred chunk, or reports that the chunk must be compressed now.
func (d *Deferral) take(n int64) bool {
	p := d.pending.Add(n)
	if p > d.Budget || d.lowDisk(p) {
		d.pending.Add(-n)
		return false
	}
	return true
}

func (d *Deferral) lowDisk(pending int64) bool {
	if d.Dir == "" && d.free == nil {
		return false
	}
	free := int64(-1)
	if d.free != nil {
		free = d.free()
	} else {
		free = freeSpace(d.Dir)
	}
	return free < 0 || free < d.MinFree+pending // unknown free space: do not defer
}

// Release gives back n bytes (a file compacted, or dropped from the queue).
func (d *Deferral) Release(n int64) {
	if d != nil && n > 0 {
		d.pending.Add(-n)
	}
}

// Pending is the node's uncompacted bytes.
func (d *Deferral) Pending() int64 { return d.pending.Load() }

// deferState is a gatehouse writer's part of the deferral (ghWriter embeds it).
type deferState struct {
	budget   *Deferral
	maxBytes int64 // the recording's size cap (Options.MaxBytes; 0: none)
	deferred int64 // bytes of chunks this recording stored as is to compact later
}

// probePool holds the probes' s2 output: shared, so a recording that streamed once holds none
// while it idles.
var probePool = sync.Pool{New: func() any { b := make([]byte, s2.MaxEncodedLen(probeLen)); return &b }}

// plan decides what writeHeld does with raw, the file holding written bytes; callers hold mu.
// It reserves the budget for a deferred chunk. stageFull: the chunk ended because its direct-I/O
// stage was full (streaming output, as a chunk of chunkRaw bytes: without it, one chunk in
// four of streaming text would be compressed on the session's path).
func (d *deferState) plan(raw []byte, written int64, stageFull bool) chunkPlan {
	f := chunkFacts{deferring: d.budget != nil, full: len(raw) >= chunkRaw || stageFull}
	if f.deferring && f.full {
		scratch := probePool.Get().(*[]byte)
		f.sample = classify(raw, *scratch)
		probePool.Put(scratch)
		nearCap := d.maxBytes > 0 && written+int64(len(raw)) > d.maxBytes/2
		f.overBudget = f.sample == sampleCompressible && (nearCap || !d.budget.take(int64(len(raw))))
	}
	p := planChunk(f)
	if p == planDefer {
		d.deferred += int64(len(raw))
	}
	return p
}

// DeferredBytes is how many bytes of rec's chunks were stored as is to be compacted after
// Close (0 for a recording that needs no compaction). The caller queues the file to a
// Compactor, or releases the bytes to the Deferral when it cannot.
func DeferredBytes(rec Recorder) int64 {
	r, ok := rec.(*recorder)
	if !ok {
		return 0
	}
	g, ok := r.enc.(*ghWriter)
	if !ok {
		return 0
	}
	r.out.mu.Lock()
	defer r.out.mu.Unlock()
	return g.deferred
}
