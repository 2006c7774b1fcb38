package record

import (
	"bytes"
	crand "crypto/rand"
	"encoding/base64"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchData is 4 MiB of each kind of output the relay bench sends (bench/relay -bulk-data):
// zeros, random bytes, base64 of random bytes (76-column lines) and syslog-like lines ("log",
// bench/relay's own generator), plus "logdense", syslog-like lines with more random hex per
// line (the "log" of the first two passes: it compresses less).
func benchData() []struct {
	name string
	data []byte
} {
	const size = 4 << 20
	random := make([]byte, size)
	crand.Read(random)
	b64 := make([]byte, 0, size+size/76+1)
	line := make([]byte, 76)
	for i := 0; len(b64) < size; i += 57 {
		base64.StdEncoding.Encode(line, random[i%(size-57):i%(size-57)+57])
		b64 = append(append(b64, line...), '\n')
	}
	return []struct {
		name string
		data []byte
	}{{"zero", make([]byte, size)}, {"random", random}, {"base64", b64[:size]}, {"log", relayLog(size)}, {"logdense", syslogLike(size)}}
}

// relayLog is n bytes of the relay bench's "log" data (bench/relay/data.go, the same
// generator and seed): five kinds of lines, random pids, addresses, ports, users and ids.
func relayLog(n int) []byte {
	r := mrand.New(mrand.NewPCG(14, 512))
	t := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	hosts := []string{"web-01", "web-02", "db-01", "cache-03", "lb-01"}
	users := []string{"root", "deploy", "alice", "bob", "backup", "nagios"}
	msgs := []func() string{
		func() string {
			return fmt.Sprintf("sshd[%d]: Accepted publickey for %s from 10.%d.%d.%d port %d ssh2: ED25519 SHA256:%x", r.IntN(65536), users[r.IntN(len(users))], r.IntN(256), r.IntN(256), r.IntN(256), 1024+r.IntN(60000), r.Uint64())
		},
		func() string {
			return fmt.Sprintf("nginx[%d]: 10.%d.%d.%d - - \"GET /api/v1/items/%d HTTP/1.1\" %d %d \"-\" \"curl/8.5.0\" rt=%.3f", r.IntN(65536), r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(100000), []int{200, 200, 200, 304, 404, 500}[r.IntN(6)], r.IntN(50000), r.Float64())
		},
		func() string {
			return fmt.Sprintf("CRON[%d]: (%s) CMD (/usr/local/bin/backup.sh --target s3://bucket-%d/daily)", r.IntN(65536), users[r.IntN(len(users))], r.IntN(10))
		},
		func() string {
			return fmt.Sprintf("kernel: [%d.%06d] TCP: request_sock_TCP: Possible SYN flooding on port %d. Sending cookies.", r.IntN(1000000), r.IntN(1000000), r.IntN(65536))
		},
		func() string {
			return fmt.Sprintf("app[%d]: level=info msg=\"request done\" request_id=%016x user=%s duration_ms=%d status=ok", r.IntN(65536), r.Uint64(), users[r.IntN(len(users))], r.IntN(2000))
		},
	}
	var b bytes.Buffer
	for b.Len() < n {
		t = t.Add(time.Duration(r.IntN(50)) * time.Millisecond)
		b.WriteString(t.Format(time.StampMicro) + " " + hosts[r.IntN(len(hosts))] + " " + msgs[r.IntN(len(msgs))]() + "\n")
	}
	return b.Bytes()[:n]
}

// syslogLike is n bytes of syslog-like lines: a clock, hosts and daemons, random pids,
// addresses, ids (the relay bench's "log" data, in short).
func syslogLike(n int) []byte {
	r := mrand.New(mrand.NewPCG(14, 512))
	t := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	hosts := []string{"web-01", "web-02", "db-01", "cache-03", "lb-01"}
	users := []string{"root", "deploy", "alice", "bob", "backup", "nagios"}
	var b bytes.Buffer
	for b.Len() < n {
		t = t.Add(time.Duration(r.IntN(50)) * time.Millisecond)
		b.WriteString(t.Format(time.StampMicro) + " " + hosts[r.IntN(len(hosts))] + " ")
		switch r.IntN(3) {
		case 0:
			fmt.Fprintf(&b, "sshd[%d]: Accepted publickey for %s from 10.%d.%d.%d port %d ssh2: ED25519 SHA256:%x\n", r.IntN(65536), users[r.IntN(len(users))], r.IntN(256), r.IntN(256), r.IntN(256), 1024+r.IntN(60000), r.Uint64())
		case 1:
			fmt.Fprintf(&b, "nginx[%d]: 10.%d.%d.%d - - \"GET /api/v1/items/%d HTTP/1.1\" %d %d \"-\" \"curl/8.5.0\" rt=%.3f\n", r.IntN(65536), r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(100000), []int{200, 304, 404, 500}[r.IntN(4)], r.IntN(50000), r.Float64())
		default:
			fmt.Fprintf(&b, "app[%d]: level=info msg=\"request done\" request_id=%016x user=%s duration_ms=%d status=ok\n", r.IntN(65536), r.Uint64(), users[r.IntN(len(users))], r.IntN(2000))
		}
	}
	return b.Bytes()[:n]
}

// BenchmarkGatehouseFile is the gatehouse recorder as a relay uses it: 256 MiB of output in
// 32 KiB calls into a recording file (Create: written, hashed, dropped behind the writer,
// fsynced at Close). cpu-s/GiB is the whole process's CPU (worker, kernel's write-back
// requests included) per GiB recorded; the files of earlier operations stay on disk, as a
// bastion's recordings do.
//
//	go test -run '^$' -bench GatehouseFile -benchtime 3x -count 3 ./internal/record/
func BenchmarkGatehouseFile(b *testing.B) {
	const perOp = 256 << 20
	dir := filepath.Join(b.TempDir(), "rec")
	for _, d := range benchData() {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(perOp)
			b.ReportAllocs()
			var size int64
			i := 0
			cpu := startCPU()
			for b.Loop() {
				i++
				rec, path, err := Create(dir, fmt.Sprintf("%s-%d.ghrec", d.name, i), Options{Format: Gatehouse})
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
				b.StopTimer()
				// Kept until the sub-benchmark ends (the page cache of a busy bastion holds
				// its recent recordings too), then removed so the disk does not fill.
				b.Cleanup(func() { os.Remove(path) })
				b.StartTimer()
			}
			cpu.reportPerGiB(b, perOp)
			b.ReportMetric(float64(size)/perOp, "size/raw")
		})
	}
}
