package record

import (
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
)

// BenchmarkCodecs compares the compressors the recorder could use, chunk by chunk (chunkRaw) on
// the relay bench's data: the zstd settings (all-literal entropy coding, none, the default) and
// s2. What it decided: zstd SpeedFastest without all-literal coding at first, then s2 (zstd's
// match finding cost 4–5 CPU-s per GiB of logs; docs/performance-recording.md, third pass).
//
//	go test -run '^$' -bench Codecs -benchtime 10x ./internal/record/
func BenchmarkCodecs(b *testing.B) {
	encs := map[string]func(dst, src []byte) []byte{}
	z1, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true), zstd.WithAllLitEntropyCompression(true), zstd.WithWindowSize(chunkRaw))
	z2, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true), zstd.WithWindowSize(chunkRaw))
	z3, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(true), zstd.WithNoEntropyCompression(true), zstd.WithWindowSize(chunkRaw))
	encs["zstd-alllit"] = func(d, s []byte) []byte { return z1.EncodeAll(s, d) }
	encs["zstd-fastest"] = func(d, s []byte) []byte { return z2.EncodeAll(s, d) }
	encs["zstd-noentropy"] = func(d, s []byte) []byte { return z3.EncodeAll(s, d) }
	encs["s2"] = func(d, s []byte) []byte { return s2.Encode(d[:cap(d)], s) }
	encs["s2better"] = func(d, s []byte) []byte { return s2.EncodeBetter(d[:cap(d)], s) }
	for _, d := range benchData() {
		for name, enc := range encs {
			b.Run(d.name+"/"+name, func(b *testing.B) {
				b.SetBytes(int64(len(d.data)))
				dst := make([]byte, 0, s2.MaxEncodedLen(chunkRaw)+1024)
				var size int
				for b.Loop() {
					size = 0
					for p := d.data; len(p) > 0; p = p[min(len(p), chunkRaw):] {
						size += len(enc(dst[:0], p[:min(len(p), chunkRaw)]))
					}
				}
				b.ReportMetric(float64(size)/float64(len(d.data)), "size/raw")
			})
		}
	}
}
