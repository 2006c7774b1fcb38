package record

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkGatehouseFileDeferred is BenchmarkGatehouseFile with a compactor's budget
// (Options.Defer): the recorder's own CPU on the hot path when text is stored as is to be
// compacted later. size/raw is the file as closed, before its compaction.
//
//	go test -run '^$' -bench GatehouseFile -benchtime 3x -count 3 ./internal/record/
func BenchmarkGatehouseFileDeferred(b *testing.B) {
	const perOp = 256 << 20
	dir := filepath.Join(b.TempDir(), "rec")
	for _, d := range benchData() {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(perOp)
			b.ReportAllocs()
			var size int64
			i := 0
			budget := bigBudget()
			cpu := startCPU()
			for b.Loop() {
				i++
				rec, path, err := Create(dir, fmt.Sprintf("%s-%d.ghrec", d.name, i), Options{Format: Gatehouse, Defer: budget})
				if err != nil {
					b.Fatal(err)
				}
				for range perOp / len(d.data) {
					for p := d.data; len(p) > 0; p = p[min(len(p), 32<<10):] {
						rec.Output(p[:min(len(p), 32<<10)])
					}
				}
				if _, size, err = rec.Close(); err != nil {
					b.Fatal(err)
				}
				budget.Release(DeferredBytes(rec))
				b.StopTimer()
				b.Cleanup(func() { os.Remove(path) })
				b.StartTimer()
			}
			cpu.reportPerGiB(b, perOp)
			b.ReportMetric(float64(size)/perOp, "size/raw")
		})
	}
}

// BenchmarkCompaction is the compactor's CPU per GiB of output recorded (reading the closed
// file, its SHA-256 checked, s2 on the chunks stored as is, the copy hashed, written, fsynced,
// renamed) and the file's size after it. Only the outputs that defer (text) are compacted.
//
//	go test -run '^$' -bench Compaction -benchtime 3x -count 3 ./internal/record/
func BenchmarkCompaction(b *testing.B) {
	const perOp = 256 << 20
	dir := b.TempDir()
	for _, d := range benchData() {
		if d.name != "log" && d.name != "logdense" {
			continue // zeros are compressed inline, random and base64 stored for good: nothing queued
		}
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(perOp)
			c, results := testCompactor(b, dir, bigBudget())
			var size int64
			i := 0
			for b.Loop() {
				b.StopTimer()
				i++
				path := queueBenchRecording(b, c, dir, fmt.Sprintf("%s-%d", d.name, i), i, d.data, perOp)
				cpu := startCPU()
				b.StartTimer()
				if err := c.Pass(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				used := processCPU() - cpu.start
				b.ReportMetric(used.Seconds()/(float64(perOp)/(1<<30)), "cpu-s/GiB")
				r := (*results)[len(*results)-1]
				if r.Outcome != Compacted {
					b.Fatalf("outcome %s", r.Outcome)
				}
				size = r.Job.NewSize
				os.Remove(path)
				b.StartTimer()
			}
			b.ReportMetric(float64(size)/perOp, "size/raw")
		})
	}
}

// queueBenchRecording records perOp bytes of data (in 32 KiB outputs) into dir/rec/NAME.ghrec
// and queues it on c as job id.
func queueBenchRecording(b *testing.B, c *Compactor, dir, name string, id int, data []byte, perOp int) string {
	rec, path, err := Create(filepath.Join(dir, "rec"), name+".ghrec", Options{Format: Gatehouse, Defer: c.Defer})
	if err != nil {
		b.Fatal(err)
	}
	for range perOp / len(data) {
		for p := data; len(p) > 0; p = p[min(len(p), 32<<10):] {
			rec.Output(p[:min(len(p), 32<<10)])
		}
	}
	sum, n, err := rec.Close()
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Enqueue(CompactJob{ID: fmt.Sprintf("%024x", id), Path: path, SHA256: sum, Size: n, Deferred: DeferredBytes(rec)}); err != nil {
		b.Fatal(err)
	}
	return path
}
