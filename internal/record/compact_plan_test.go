package record

import (
	crand "crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/klauspost/compress/s2"
)

// TestPlanChunk is the decision "compress now / store as is / defer to the compactor" over every
// combination of its inputs.
func TestPlanChunk(t *testing.T) {
	C, S, D := planCompress, planStore, planDefer
	cheap, text, noise := sampleCheap, sampleCompressible, sampleIncompressible
	for _, tc := range []struct {
		deferring, full bool
		sample          sampleClass
		overBudget      bool
		want            chunkPlan
	}{
		// No compactor: as before deferral, whatever the chunk.
		{false, false, cheap, false, C}, {false, false, cheap, true, C},
		{false, false, text, false, C}, {false, false, text, true, C},
		{false, false, noise, false, C}, {false, false, noise, true, C},
		{false, true, cheap, false, C}, {false, true, cheap, true, C},
		{false, true, text, false, C}, {false, true, text, true, C},
		{false, true, noise, false, C}, {false, true, noise, true, C},
		// A chunk of a flush or of Close (a terminal's lines): compressed now.
		{true, false, cheap, false, C}, {true, false, cheap, true, C},
		{true, false, text, false, C}, {true, false, text, true, C},
		{true, false, noise, false, C}, {true, false, noise, true, C},
		// Streaming: runs compressed now, noise stored for good, text deferred within budget.
		{true, true, cheap, false, C}, {true, true, cheap, true, C},
		{true, true, text, false, D}, {true, true, text, true, C},
		{true, true, noise, false, S}, {true, true, noise, true, S},
	} {
		f := chunkFacts{deferring: tc.deferring, full: tc.full, sample: tc.sample, overBudget: tc.overBudget}
		if got := planChunk(f); got != tc.want {
			t.Errorf("planChunk(%+v) = %v, want %v", f, got, tc.want)
		}
	}
}

// TestClassify: the probe tells runs, text and noise apart on the relay bench's data.
func TestClassify(t *testing.T) {
	random := make([]byte, chunkRaw)
	crand.Read(random)
	b64 := []byte(base64.StdEncoding.EncodeToString(random))[:chunkRaw]
	scratch := make([]byte, s2.MaxEncodedLen(probeLen))
	for _, tc := range []struct {
		name string
		data []byte
		want sampleClass
	}{
		{"zeros", make([]byte, chunkRaw), sampleCheap},
		{"random", random, sampleIncompressible},
		{"base64", b64, sampleIncompressible},
		{"log", relayLog(chunkRaw), sampleCompressible},
		{"logdense", syslogLike(chunkRaw), sampleCompressible},
		{"half log, half random", append(append([]byte{}, random[:chunkRaw/2]...), relayLog(chunkRaw/2)...), sampleCompressible},
		{"short", []byte("hello"), sampleCompressible},
	} {
		if got := classify(tc.data, scratch); got != tc.want {
			t.Errorf("%s: class %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestDeferralBudget: a chunk is deferred only while the node's pending bytes stay within the
// budget and the disk keeps MinFree beyond them; Release gives bytes back.
func TestDeferralBudget(t *testing.T) {
	free := int64(10 << 20)
	d := &Deferral{Budget: 3 << 20, MinFree: 4 << 20, free: func() int64 { return free }}
	for i, want := range []bool{true, true, true, false} { // 1 MiB each: the 4th passes the budget
		if got := d.take(1 << 20); got != want {
			t.Fatalf("take %d = %v, want %v", i, got, want)
		}
	}
	if d.Pending() != 3<<20 {
		t.Fatalf("pending %d after a refused take", d.Pending())
	}
	d.Release(2 << 20)
	free = 5 << 20 // MinFree + 1 MiB pending leaves room for nothing more
	if d.take(1 << 20) {
		t.Fatal("deferred with the disk below MinFree plus what waits")
	}
	free = -1 // unknown: compress now
	if d.take(1) {
		t.Fatal("deferred with the free space unknown")
	}
	free = 1 << 40
	if !d.take(1 << 20) {
		t.Fatal("refused with room")
	}
	var none *Deferral
	none.Release(5) // a tracker without a compactor
}
