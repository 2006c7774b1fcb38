package record

// Recording cost benchmarks; figures and commands in
// docs/performance-recording.md.
//
//	go test -run '^$' -bench . -benchtime 3x ./internal/record/

import (
	"bytes"
	crand "crypto/rand"
	"encoding/base64"
	"io"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// transferSize is the size of the transfer the issue sets the target for.
const transferSize = 512 << 20

// terminalChunk is 32 KiB of typical terminal output: mostly ASCII, some
// escapes and multibyte characters, as `ls --color` or a log tail gives.
var terminalChunk = func() []byte {
	line := []byte("\x1b[01;34mdrwxr-xr-x\x1b[0m  2 root root  4096 Nov 23 10:00 données-€\r\n")
	return bytes.Repeat(line, 32<<10/len(line)+1)[:32<<10]
}()

// BenchmarkOutput is the recorder alone, writing to io.Discard: 64 MiB
// per operation, Close included so the worker's work is all counted.
func BenchmarkOutput(b *testing.B) {
	const perOp = 64 << 20
	for _, format := range []Format{Asciicast, Ttyrec, Gatehouse} {
		b.Run(format.String(), func(b *testing.B) {
			b.SetBytes(perOp)
			cpu := startCPU()
			for b.Loop() {
				rec, _ := New(io.Discard, Options{Format: format})
				for i := 0; i < perOp/len(terminalChunk); i++ {
					rec.Output(terminalChunk)
				}
				rec.Close()
			}
			cpu.report(b)
		})
	}
}

// cpuMeter reports the process's CPU time (user+system, all goroutines)
// per operation: unlike ns/op it does not improve when work moves to
// another core, so it shows what recording costs the machine.
type cpuMeter struct{ start time.Duration }

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuMeter { return cpuMeter{processCPU()} }

func (c cpuMeter) report(b *testing.B) {
	b.ReportMetric(float64((processCPU()-c.start).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// reportPerGiB reports cpu-ms/op and the CPU seconds per GiB of perOp bytes.
func (c cpuMeter) reportPerGiB(b *testing.B, perOp int64) {
	used := processCPU() - c.start
	b.ReportMetric(float64(used.Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(used.Seconds()/float64(b.N)/(float64(perOp)/(1<<30)), "cpu-s/GiB")
}

// sourceReader yields n bytes of terminalChunk.
type sourceReader struct{ left int }

func (s *sourceReader) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	n := copy(p, terminalChunk[:min(len(terminalChunk), s.left)])
	s.left -= n
	return n, nil
}

// pipeCopy moves transferSize bytes through an io.Pipe (one goroutine
// reads the "target", the other is the "user"), teeing into rec if set.
func pipeCopy(b *testing.B, rec Recorder) {
	pr, pw := io.Pipe()
	done := make(chan int64)
	go func() {
		n, _ := io.Copy(io.Discard, pr)
		done <- n
	}()
	src := &sourceReader{left: transferSize}
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if rec != nil {
				rec.Output(buf[:n])
			}
			pw.Write(buf[:n])
		}
		if err != nil {
			break
		}
	}
	pw.Close()
	if n := <-done; n != transferSize {
		b.Fatalf("copied %d bytes", n)
	}
}

// BenchmarkPipe is the worst case: the copy itself costs almost nothing,
// so the recorder's work dominates.
func BenchmarkPipe(b *testing.B) {
	b.Run("off", func(b *testing.B) {
		b.SetBytes(transferSize)
		cpu := startCPU()
		for b.Loop() {
			pipeCopy(b, nil)
		}
		cpu.report(b)
	})
	for _, format := range []Format{Asciicast, Ttyrec, Gatehouse} {
		b.Run(format.String(), func(b *testing.B) {
			b.SetBytes(transferSize)
			dir := filepath.Join(b.TempDir(), "rec")
			i := 0
			cpu := startCPU()
			for b.Loop() {
				i++
				rec, _, err := Create(dir, format.Ext()+string(rune('a'+i)), Options{Format: format})
				if err != nil {
					b.Fatal(err)
				}
				pipeCopy(b, rec)
				if _, _, err := rec.Close(); err != nil {
					b.Fatal(err)
				}
			}
			cpu.report(b)
		})
	}
}

// BenchmarkGatehouseData is the gatehouse format's recorder alone (to io.Discard) on the data
// of the relay bench: zeros, random bytes, base64 text and terminal text, 64 MiB per operation.
func BenchmarkGatehouseData(b *testing.B) {
	const perOp = 64 << 20
	random := make([]byte, 4<<20)
	crand.Read(random)
	b64 := make([]byte, base64.StdEncoding.EncodedLen(len(random)))
	base64.StdEncoding.Encode(b64, random)
	for _, d := range []struct {
		name string
		data []byte
	}{{"zero", make([]byte, 4<<20)}, {"random", random}, {"base64", b64[:4<<20]}, {"terminal", bytes.Repeat(terminalChunk, 128)}} {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(perOp)
			cpu := startCPU()
			var size int64
			for b.Loop() {
				rec, _ := New(io.Discard, Options{Format: Gatehouse})
				for i := 0; i < perOp/len(d.data); i++ {
					for p := d.data; len(p) > 0; p = p[min(len(p), 32<<10):] {
						rec.Output(p[:min(len(p), 32<<10)])
					}
				}
				_, size, _ = rec.Close()
			}
			cpu.report(b)
			b.ReportMetric(float64(size)/perOp, "size/raw")
		})
	}
}
