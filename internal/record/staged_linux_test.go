package record

import (
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
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

// TestStagedChunkOfAFailedRecording: when the stage writer fails while chunks are built in the
// stage (its descriptor closed behind it, as an I/O error would), the recording reports the
// error at Close, nothing touches the released stage afterwards (the held chunk is dropped
// first), and the SHA-256 and size Close gives are those of the file as it is on disk.
func TestStagedChunkOfAFailedRecording(t *testing.T) {
	rec, path, err := Create(filepath.Join(diskDir(t), "rec"), "failed.ghrec", Options{Format: Gatehouse})
	if err != nil {
		t.Fatal(err)
	}
	r := rec.(*recorder)
	out := make([]byte, 32<<10)
	crand.Read(out)
	broken := false
	for i := 0; i < 4096 && r.Err() == nil; i++ {
		rec.Output(out)
		if i == 256 { // 8 MiB in: streaming, a stage exists
			r.out.mu.Lock()
			if d := r.out.direct; d.dfd != nil {
				_ = d.dfd.Close() // the failure under test
				broken = true
			}
			r.out.mu.Unlock()
		}
	}
	if !broken {
		t.Fatal("no direct descriptor while output streamed")
	}
	sum, size, err := rec.Close()
	if err == nil {
		t.Fatal("Close reported no error after the stage writer failed")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != size {
		t.Fatalf("Close said %d bytes, the file has %d", size, fi.Size())
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sum {
		t.Fatalf("Close said SHA-256 %s, the file's is %s", sum, got)
	}
}
