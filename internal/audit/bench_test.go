package audit

// Append-rate benchmarks; figures and commands in docs/performance-recording.md.
//
//	go test -run '^$' -bench Append ./internal/audit/

import (
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
)

func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		name   string
		policy SyncPolicy
	}{{"sync-at-checkpoint", SyncCheckpoint}, {"fsync-every-line", SyncEveryLine}} {
		b.Run(bc.name, func(b *testing.B) {
			l, err := Open(Options{Dir: b.TempDir() + "/audit", Key: testKey(1), Sync: bc.policy,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				b.Fatal(err)
			}
			ev := openEvent(1)
			for b.Loop() {
				if err := l.Append(ev); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			l.Close()
		})
	}
	b.Run("sync-at-checkpoint-parallel", func(b *testing.B) {
		l, err := Open(Options{Dir: b.TempDir() + "/audit", Key: testKey(1)})
		if err != nil {
			b.Fatal(err)
		}
		var n atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			ev := openEvent(2)
			for pb.Next() {
				if err := l.Append(ev); err != nil {
					b.Error(err)
					return
				}
				n.Add(1)
			}
		})
		b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "events/s")
		l.Close()
	})
}

func BenchmarkVerify(b *testing.B) {
	dir := b.TempDir() + "/audit"
	l, _ := Open(Options{Dir: dir, Key: testKey(1)})
	for i := 0; i < 20000; i++ {
		l.Append(openEvent(i))
	}
	l.Close()
	b.ResetTimer()
	for b.Loop() {
		if _, err := VerifyFiles([]string{dir}, pubOf(testKey(1))); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(20000*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}
