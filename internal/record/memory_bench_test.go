package record

import (
	crand "crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

// BenchmarkStreamingMemory is the memory of a recording while output streams into it: 4
// recordings take 64 MiB of random output each at once (32 KiB calls, as a relay makes them),
// while a sampler collects the garbage and reads the live heap every 5 ms; peak-B/rec is the
// highest live heap above the one before they started, per recording (batches, chunk buffers,
// direct-I/O stages written or waiting (those mapped outside the Go heap counted whole), the
// s2 buffer, and what the pools keep for them).
//
//	go test -run '^$' -bench StreamingMemory -benchtime 3x -count 5 ./internal/record/
func BenchmarkStreamingMemory(b *testing.B) {
	const recs, perRec = 4, 64 << 20
	dir := filepath.Join(b.TempDir(), "rec")
	data := make([]byte, 4<<20)
	crand.Read(data)
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	heap := func() int64 {
		runtime.GC()
		metrics.Read(sample)
		return int64(sample[0].Value.Uint64()) + stagesMapped.Load()*directStage
	}
	var peak int64
	i := 0
	for b.Loop() {
		b.StopTimer()
		runtime.GC() // the pools' victims too: the stages of the previous round are gone
		base := heap()
		stop := make(chan struct{})
		sampled := make(chan int64)
		go func() {
			top := base
			tick := time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					sampled <- top
					return
				case <-tick.C:
					top = max(top, heap())
				}
			}
		}()
		b.StartTimer()
		var wg sync.WaitGroup
		for r := range recs {
			i++
			wg.Add(1)
			go func(name string) {
				defer wg.Done()
				rec, path, err := Create(dir, name, Options{Format: Gatehouse})
				if err != nil {
					b.Error(err)
					return
				}
				for range perRec / len(data) {
					for p := data; len(p) > 0; p = p[min(len(p), 32<<10):] {
						rec.Output(p[:min(len(p), 32<<10)])
					}
				}
				if _, _, err := rec.Close(); err != nil {
					b.Error(err)
				}
				_ = os.Remove(path) // the disk must not fill; a leftover is harmless
			}(fmt.Sprintf("mem-%d-%d.ghrec", i, r))
		}
		wg.Wait()
		close(stop)
		peak = max(peak, (<-sampled-base)/recs)
	}
	b.ReportMetric(float64(peak), "peak-B/rec")
}
