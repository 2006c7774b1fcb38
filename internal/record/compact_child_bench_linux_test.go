package record

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"runtime/metrics"
	"syscall"
	"testing"
	"time"
)

// gcPauses reads the histogram of the process's GC stop-the-world pauses (time to stop
// included: a thread slow to reach a safe point lengthens it).
func gcPauses() *metrics.Float64Histogram {
	s := []metrics.Sample{{Name: "/sched/pauses/total/gc:seconds"}}
	metrics.Read(s)
	return s[0].Value.Float64Histogram()
}

// pauseStats is the count, the p99 and the maximum (bucket upper bounds) of the pauses between
// two readings.
func pauseStats(before, after *metrics.Float64Histogram) (n uint64, p99, maxPause float64) {
	diff := make([]uint64, len(after.Counts))
	for i := range diff {
		diff[i] = after.Counts[i] - before.Counts[i]
		n += diff[i]
	}
	var seen uint64
	for i, c := range diff {
		if c == 0 {
			continue
		}
		seen += c
		hi := after.Buckets[i+1]
		if math.IsInf(hi, 1) {
			hi = after.Buckets[i]
		}
		if p99 == 0 && float64(seen) >= 0.99*float64(n) {
			p99 = hi
		}
		maxPause = hi
	}
	return n, p99, maxPause
}

// BenchmarkCompactGCPause is this process's GC pauses (as gatehouse's) during a window of a
// compaction of a 64 MiB log whose file work runs on an idle thread in this process
// ("inprocess"), in a child process ("child"), or with no compaction ("none"), while a goroutine
// allocates as sessions do (a 32 MiB live ring of 64 KiB buffers). Run it under full CPU load:
//
//	yes >/dev/null & yes >/dev/null &
//	go test -run '^$' -bench CompactGCPause -benchtime 1x -count 3 ./internal/record/
func BenchmarkCompactGCPause(b *testing.B) {
	const size, window = 64 << 20, 15 * time.Second
	for _, mode := range []string{"none", "inprocess", "child"} {
		b.Run(mode, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				d := bigBudget()
				path, sum, n, deferred := compactRec(b, filepath.Join(dir, "rec"), "g.ghrec", d, relayLog(size))
				done := make(chan CompactResult, 1)
				c := &Compactor{Queue: filepath.Join(dir, "queue"), Defer: d,
					Done: func(_ context.Context, r CompactResult) error { done <- r; return nil }}
				if mode == "child" {
					c.Worker = testChild(nil)
				}
				if err := c.Open(); err != nil {
					b.Fatal(err)
				}
				stop := make(chan struct{})
				allocated := make(chan struct{})
				go func() { // the sessions' garbage
					defer close(allocated)
					ring := make([][]byte, 512)
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						p := make([]byte, 64<<10)
						p[i%len(p)] = byte(i)
						ring[i%len(ring)] = p
					}
				}()
				ctx, cancel := context.WithCancel(context.Background())
				ran := make(chan struct{})
				before, start := gcPauses(), time.Now()
				b.StartTimer()
				go func() { c.Run(ctx); close(ran) }()
				if mode != "none" {
					mustQueue(b, c, "7777666655554444aaaabbbb", path, sum, n, deferred)
				}
				finished := time.Duration(0)
				timer := time.NewTimer(window)
				select {
				case r := <-done:
					finished = time.Since(start)
					if r.Outcome != Compacted {
						b.Fatalf("outcome %s", r.Outcome)
					}
					<-timer.C // the same window in every mode
				case <-timer.C:
				}
				count, p99, maxPause := pauseStats(before, gcPauses())
				b.StopTimer()
				close(stop)
				<-allocated
				cancel()
				<-ran
				b.ReportMetric(float64(count), "gcs")
				b.ReportMetric(p99*1e3, "gc-p99-ms")
				b.ReportMetric(maxPause*1e3, "gc-max-ms")
				b.ReportMetric(finished.Seconds(), "done-s") // 0: not done within the window
				b.StartTimer()
			}
		})
	}
}

func childrenCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCompactionChild is BenchmarkCompaction/log with the file work in a child: the
// child's CPU (and the parent's, separately) per GiB of output recorded.
//
//	go test -run '^$' -bench CompactionChild -benchtime 3x -count 3 ./internal/record/
func BenchmarkCompactionChild(b *testing.B) {
	const perOp = 256 << 20
	dir := b.TempDir()
	data := relayLog(4 << 20)
	b.SetBytes(perOp)
	c, results := testCompactor(b, dir, bigBudget())
	c.Worker = testChild(nil)
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		queueBenchRecording(b, c, dir, fmt.Sprintf("c-%d", i), i, data, perOp)
		self, kids := processCPU(), childrenCPU()
		b.StartTimer()
		if err := c.Pass(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		gib := float64(perOp) / (1 << 30)
		b.ReportMetric((childrenCPU()-kids).Seconds()/gib, "child-cpu-s/GiB")
		b.ReportMetric((processCPU()-self).Seconds()/gib, "parent-cpu-s/GiB")
		if r := (*results)[len(*results)-1]; r.Outcome != Compacted {
			b.Fatalf("outcome %s", r.Outcome)
		}
		b.StartTimer()
	}
}
