package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// variant reports whether -variants names the recording variant v.
func (e *env) variant(v string) bool {
	return slices.Contains(strings.Split(e.o.variants, ","), v)
}

// perGiB is the median of f over runs, per GiB relayed, in seconds.
func perGiB(runs []bulkRun, f func(bulkRun) time.Duration) float64 {
	var xs []float64
	for _, r := range runs {
		if r.bytes > 0 {
			xs = append(xs, f(r).Seconds()*float64(1<<30)/float64(r.bytes))
		}
	}
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// makeBulkFile writes the -bulk-data file of exactly n bytes into dir and returns its path
// ("" for zero, which the target reads from /dev/zero).
func makeBulkFile(dir, kind string, n int64) (string, error) {
	if kind == "zero" || kind == "" {
		return "", nil
	}
	path := filepath.Join(dir, "bulk-"+kind+".dat")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	var written int64
	put := func(p []byte) {
		p = p[:min(int64(len(p)), n-written)]
		bw.Write(p)
		written += int64(len(p))
	}
	switch kind {
	case "random":
		buf := make([]byte, 1<<20)
		for written < n {
			rand.Read(buf)
			put(buf)
		}
	case "base64":
		// Lines of 76 characters, as base64(1) writes them: 6 bits of entropy per character,
		// so no compressor goes below 0.75 of it.
		raw := make([]byte, 57*1024)
		line := make([]byte, 77)
		for written < n {
			rand.Read(raw)
			for i := 0; i < len(raw) && written < n; i += 57 {
				base64.StdEncoding.Encode(line, raw[i:i+57])
				line[76] = '\n'
				put(line)
			}
		}
	case "log":
		// Synthetic syslog: a clock that advances, a few hosts and daemons, random pids,
		// addresses, ports, users and request ids, as the logs users pull through a bastion.
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
		for written < n {
			t = t.Add(time.Duration(r.IntN(50)) * time.Millisecond)
			put([]byte(t.Format(time.StampMicro) + " " + hosts[r.IntN(len(hosts))] + " " + msgs[r.IntN(len(msgs))]() + "\n"))
		}
	default:
		f.Close()
		return "", fmt.Errorf("-bulk-data %q: zero, random, base64 or log", kind)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}
