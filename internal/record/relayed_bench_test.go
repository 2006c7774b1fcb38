package record

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkGatehouseRelayed is BenchmarkGatehouseFile driven as egress's relay drives a
// recorder: each 256 KiB read of the target's output (here a copy into the relay's buffer) is
// handed to the recorder, with OutputOwned when the recorder has it (the buffer is kept, and the
// next read goes into one the recorder gives back), with Output (a copy) otherwise. The file
// compiles against recorders without OutputOwned, so the same bench measures main.
//
//	go test -run '^$' -bench GatehouseRelayed -benchtime 3x -count 8 ./internal/record/
func BenchmarkGatehouseRelayed(b *testing.B) {
	const perOp = 256 << 20
	const read = 256 << 10
	dir := filepath.Join(b.TempDir(), "rec")
	for _, deferring := range []bool{false, true} {
		for _, d := range benchData() {
			name := d.name
			if deferring {
				name += "/deferred"
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(perOp)
				var budget *Deferral
				if deferring {
					budget = &Deferral{Budget: 1 << 40}
				}
				var size int64
				i := 0
				cpu := startCPU()
				buf := make([]byte, read)
				for b.Loop() {
					i++
					rec, path, err := Create(dir, fmt.Sprintf("r-%s-%d.ghrec", strings.ReplaceAll(name, "/", "-"), i), Options{Format: Gatehouse, Defer: budget})
					if err != nil {
						b.Fatal(err)
					}
					ow, owned := rec.(interface{ OutputOwned([]byte) []byte })
					for range perOp / len(d.data) {
						for p := d.data; len(p) > 0; {
							n := copy(buf, p)
							p = p[n:]
							if !owned {
								rec.Output(buf[:n])
								continue
							}
							if next := ow.OutputOwned(buf[:n]); next != nil {
								buf = next[:cap(next)]
							} else {
								buf = make([]byte, read)
							}
						}
					}
					if _, size, err = rec.Close(); err != nil {
						b.Fatal(err)
					}
					if budget != nil {
						budget.Release(DeferredBytes(rec))
					}
					b.StopTimer()
					b.Cleanup(func() { os.Remove(path) })
					b.StartTimer()
				}
				cpu.reportPerGiB(b, perOp)
				b.ReportMetric(float64(size)/perOp, "size/raw")
			})
		}
	}
}
