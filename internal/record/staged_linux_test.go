package record

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestStagedChunksKeepEveryByte: chunks built in the direct-I/O stage (sink.chunkSpace) and
// written without a copy, mixed with s2 chunks written over their own raw events, stages
// handed off part-way (their last partial block carried over), timed flushes every few
// milliseconds that settle the stage at any point, and several recordings sharing the stage
// pool at once: every recording replays exactly what it was given, its file's SHA-256 and
// size are what Close said, and with the default flush most of its bytes went to the stage
// without a copy.
func TestStagedChunksKeepEveryByte(t *testing.T) {
	dir := filepath.Join(diskDir(t), "rec")
	random := make([]byte, 3<<20)
	crand.Read(random)
	var in []byte
	for _, part := range [][]byte{random, relayLog(2 << 20), random[:1<<20], make([]byte, 1<<20), random} {
		in = append(in, part...)
	}
	flushes := []time.Duration{0, 3 * time.Millisecond, 4 * time.Millisecond}
	type result struct {
		path, sum    string
		size, staged int64
		err          error
	}
	res := make([]result, len(flushes))
	var wg sync.WaitGroup
	for i, every := range flushes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, path, err := Create(dir, fmt.Sprintf("staged-%d.ghrec", i), Options{Format: Gatehouse, FlushInterval: every})
			if err != nil {
				res[i].err = err
				return
			}
			r := rand.New(rand.NewPCG(14, uint64(i)))
			for p := in; len(p) > 0; {
				n := min(len(p), 1+r.IntN(40<<10))
				rec.Output(p[:n])
				p = p[n:]
			}
			res[i].sum, res[i].size, res[i].err = rec.Close()
			res[i].path, res[i].staged = path, rec.(*recorder).out.direct.staged
		}()
	}
	wg.Wait()
	for i, r := range res {
		if r.err != nil {
			t.Fatalf("recording %d: %v", i, r.err)
		}
		f, err := os.Open(r.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi, err := f.Stat(); err != nil || fi.Size() != r.size {
			t.Fatalf("recording %d: on disk %v, Close said %d bytes", i, fi, r.size)
		}
		checkFileSum(t, f, r.sum, in)
		_ = f.Close() // read only
		if i == 0 && r.staged < r.size/2 {
			t.Errorf("recording %d: %d of its %d bytes were built in the stage", i, r.staged, r.size)
		}
		t.Logf("recording %d (flush every %v): %d of %d bytes built in the stage", i, flushes[i], r.staged, r.size)
	}
}
