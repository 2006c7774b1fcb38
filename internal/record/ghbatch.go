package record

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/klauspost/compress/s2"
)

// A batch stored as is, hashed in cache. Once a recording stores its chunks as they are (random
// or base64 output: s2 found nothing, or the deferral's probe said so), the worker writes each
// batch it takes (batchBytes of output) as one chunk of its own, built in the direct-I/O stage:
// the chunk's length is known before its first byte (the batch is whole, its events' times
// too), so its header is written and hashed first, and then each event is copied to the stage,
// folded into the chunk's CRC-32C and into the file's SHA-256 at once, while it is in the
// core's cache. Built as a 512 KiB chunk, the same bytes were checksummed and hashed only when
// the chunk was full, by then out of the core's cache (perf: SHA-256 0.68 CPU-s per GiB in the
// relay against 0.57 in cache, CRC-32C 0.12 against 0.05). The chunks are smaller (a batch),
// which costs 12 bytes per 128 KiB; today's reader reads them as any chunk stored as is.

// storedAsIsEvery is how many bytes stored as is count as one chunk of ghWriter.skip: the
// batches stored as is count as the chunks of chunkRaw bytes they replace, so s2 (or the
// deferral's probe) still tries once every storeRaw chunks' worth of output.
const storedAsIsEvery = chunkRaw

// batchEvents calls fn for each event of a batch: data cut by marks (each Output's bytes at its
// time), at most maxEventBytes each.
func batchEvents(data []byte, marks []mark, fn func(at time.Time, p []byte)) {
	start := 0
	for _, m := range marks {
		for start < m.end {
			n := min(m.end-start, maxEventBytes)
			fn(m.at, data[start:start+n])
			start += n
		}
	}
}

// storeBatch writes a batch of outputs or inputs as one chunk stored as is, built in the
// direct-I/O stage and hashed as it is built (above), and reports whether it did. It does not
// when the recording is not storing as is, has no stage, or would reach its size cap with the
// batch (the caller then writes the batch's events one by one, as before); callers hold mu.
func (g *ghWriter) storeBatch(kind byte, data []byte, marks []mark) bool {
	if !g.begun || !g.usable() || len(data) == 0 || !g.storesAsIs(data) {
		return false
	}
	g.cut = true
	g.writeHeld() // what is held goes first, in order
	g.cut = false
	if !g.usable() {
		return false
	}
	size, last := 0, g.last
	batchEvents(data, marks, func(at time.Time, p []byte) {
		var delta uint64
		delta, last = stepDelta(g.start, last, at)
		size += 1 + uvarintLen(delta) + uvarintLen(uint64(len(p))) + len(p)
	})
	total := chunkHeaderLen + size + 4
	if size > chunkRaw || g.maxBytes > 0 && g.written()+int64(total) >= g.maxBytes {
		return false
	}
	b := g.chunkSpace(total)
	if b == nil {
		return false
	}
	h := g.hc.h
	b = binary.LittleEndian.AppendUint32(b, uint32(size+4)|storedRawFlag)
	b = binary.LittleEndian.AppendUint32(b, uint32(size))
	h.Write(b)
	var crc uint32
	batchEvents(data, marks, func(at time.Time, p []byte) {
		var delta uint64
		delta, g.last = stepDelta(g.start, g.last, at)
		from := len(b)
		b = append(b, kind)
		b = binary.AppendUvarint(b, delta)
		b = binary.AppendUvarint(b, uint64(len(p)))
		b = append(b, p...)
		ev := b[from:]
		crc = crc32.Update(crc, castagnoli, ev)
		h.Write(ev)
	})
	b = binary.LittleEndian.AppendUint32(b, crc)
	h.Write(b[len(b)-4:])
	g.writeHashed(b)
	if g.skip > 0 {
		for g.storedAsIs += size; g.storedAsIs >= storedAsIsEvery && g.skip > 0; g.storedAsIs -= storedAsIsEvery {
			g.skip--
		}
	}
	g.bulk = true
	g.eventDone() // the stage waits for the next flush
	return true
}

// storesAsIs reports whether a batch of data is stored as is: during the storeRaw chunks that
// follow a failed s2 try, or, when chunks may be deferred (their plan probes each full chunk,
// compact_plan.go), when a probe of the batch's middle finds nothing to compress (random,
// base64: what planChunk stores as is for good; 4 KiB of s2, which gives up on such bytes at
// ~20 GB/s). Text and runs go the way they went, into a chunk of chunkRaw bytes that writeHeld
// plans whole; while such a chunk holds 12 KiB or more (and the last chunk planned was not
// stored as is for good: the first chunk, or text), the batches that follow join it unprobed (a probe of text costs s2 ~8 µs: once per chunk, not once per batch; a few held
// bytes, a prompt or stderr's line between two reads, do not stop the probe).
func (g *ghWriter) storesAsIs(data []byte) bool {
	if g.budget == nil {
		return g.skip > 0
	}
	if g.heldBytes() >= 3*probeLen && !g.storing || len(data) < 3*probeLen {
		return false
	}
	scratch := probePool.Get().(*[]byte)
	defer probePool.Put(scratch)
	mid := len(data)/2 - probeLen/2
	return len(s2.Encode((*scratch)[:cap(*scratch)], data[mid:mid+probeLen])) > probeLen-probeLen/64
}

// writeHashed writes p, whose bytes the caller has already added to the hash, and counts them
// (hashCounter.Write without the hashing); callers hold mu. A short write fails the recording,
// whose audit hash then comes from the file (sink.finish).
func (o *sink) writeHashed(p []byte) {
	if o.err != nil {
		return
	}
	n, err := o.hc.w.Write(p)
	o.hc.n += int64(n)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		o.err = fmt.Errorf("record: write recording: %w", err)
	}
}

// stepDelta is the time field of an event at at, after one at last (both since start), in
// microseconds, and the new last: times never go back, and the rounding error stays out of
// later deltas.
func stepDelta(start time.Time, last time.Duration, at time.Time) (uint64, time.Duration) {
	d := at.Sub(start)
	if d < last {
		d = last
	}
	delta := (d - last) / time.Microsecond
	return uint64(delta), last + delta*time.Microsecond
}

// uvarintLen is the length of binary.AppendUvarint's encoding of v.
func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}
