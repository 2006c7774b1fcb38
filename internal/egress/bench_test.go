package egress

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/sshtest"
)

const bulkBytes = 512 << 20

// BenchmarkBulk512MiB compares 512 MiB of output from a real sshd target
// relayed by Dial+RunSession with the plain OpenSSH client fetching the
// same output from the same sshd, key exchange pinned to curve25519-sha256
// on both sides. Each iteration runs both, connection setup included, and
// reports both throughputs and their ratio. Run it alone:
//
//	go test -run '^$' -bench Bulk512MiB -benchtime 3x ./internal/egress
//
// Sub-benchmarks: "default" lets each client pick its preferred cipher
// (x/crypto: aes128-gcm, OpenSSH: chacha20-poly1305); "aes128-gcm" pins
// the same cipher on both.
func BenchmarkBulk512MiB(b *testing.B) {
	const kex = "curve25519-sha256"
	s := sshtest.StartSSHDWith(b, sshtest.Options{KexAlgorithms: kex})
	g, err := GenerateKey(rand.Reader, AlgoEd25519, 0, "bench")
	if err != nil {
		b.Fatal(err)
	}
	s.Authorize(b, g.AuthorizedKey)
	signer, err := ParseSigner(g.PrivatePEM)
	if err != nil {
		b.Fatal(err)
	}
	keyFile := filepath.Join(b.TempDir(), "id")
	if err := os.WriteFile(keyFile, g.PrivatePEM, 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := "head -c " + strconv.Itoa(bulkBytes) + " /dev/zero"
	tgt := Target{User: s.User, Host: s.Host, Port: s.Port}

	for _, bc := range []struct{ name, cipher string }{{"default", ""}, {"aes128-gcm", "aes128-gcm@openssh.com"}} {
		b.Run(bc.name, func(b *testing.B) {
			var egressTotal, sshTotal time.Duration
			for i := 0; i < b.N; i++ {
				// gatehouse's egress client
				start := time.Now()
				d := Dialer{KeyExchanges: []string{kex}}
				if bc.cipher != "" {
					d.Ciphers = []string{bc.cipher}
				}
				c, err := d.Dial(b.Context(), tgt, []ssh.Signer{signer}, HostKeyPolicy{Mode: HostKeyBypass})
				if err != nil {
					b.Fatal(err)
				}
				var n countWriter
				status, _, err := RunSession(b.Context(), c, Request{Command: cmd}, Streams{Stdout: &n})
				c.Close()
				if err != nil || status != 0 || n != bulkBytes {
					b.Fatalf("egress: status %d err %v, %d bytes", status, err, n)
				}
				egressTotal += time.Since(start)

				// OpenSSH's client, straight to the same sshd
				args := []string{"-F", "none", "-i", keyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
					"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
					"-o", "KexAlgorithms=" + kex, "-p", strconv.Itoa(s.Port)}
				if bc.cipher != "" {
					args = append(args, "-o", "Ciphers="+bc.cipher)
				}
				args = append(args, s.User+"@"+s.Host, cmd)
				start = time.Now()
				ssh := exec.Command("ssh", args...)
				devnull, _ := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
				var stderr bytes.Buffer
				ssh.Stdout, ssh.Stderr = devnull, &stderr
				err = ssh.Run()
				devnull.Close()
				if err != nil {
					b.Fatalf("ssh: %v %s", err, stderr.String())
				}
				sshTotal += time.Since(start)
			}
			mib := float64(bulkBytes) / (1 << 20) * float64(b.N)
			egressRate, sshRate := mib/egressTotal.Seconds(), mib/sshTotal.Seconds()
			b.ReportMetric(egressRate, "egress-MiB/s")
			b.ReportMetric(sshRate, "openssh-MiB/s")
			b.ReportMetric(egressRate/sshRate, "ratio")
		})
	}
}

// BenchmarkIdleSessions measures what one idle relayed session costs this
// process (Go heap and goroutine stacks) on the egress side: n connections
// to a real sshd, each with a pty session running "sleep" and relayed by
// RunSession, then the memory delta divided by n.
//
//	go test -run '^$' -bench IdleSessions -benchtime 1x ./internal/egress
func BenchmarkIdleSessions(b *testing.B) {
	const n = 100
	s := sshtest.StartSSHD(b)
	g, _ := GenerateKey(rand.Reader, AlgoEd25519, 0, "bench")
	s.Authorize(b, g.AuthorizedKey)
	signer, _ := ParseSigner(g.PrivatePEM)
	tgt := Target{User: s.User, Host: s.Host, Port: s.Port}
	if os.Getenv("HEAPPROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	for i := 0; i < b.N; i++ {
		heap0, stack0 := memInUse()
		ctx, cancel := context.WithCancel(b.Context())
		var wg sync.WaitGroup
		var started sync.WaitGroup
		started.Add(n)
		for j := 0; j < n; j++ {
			c, err := Dial(ctx, tgt, []ssh.Signer{signer}, HostKeyPolicy{Mode: HostKeyBypass})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			out := &syncBuffer{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				stdin, stdinW := io.Pipe()
				defer stdinW.Close()
				RunSession(ctx, c, Request{Pty: &PtyRequest{Term: "xterm", Cols: 80, Rows: 24}, Command: "echo up; exec sleep 600"},
					Streams{Stdin: stdin, Stdout: out, WindowChanges: make(chan WindowChange), Signals: make(chan string)})
			}()
			go func() {
				// Not waitFor: under load a session may take longer than its
				// 5s, and a Fatal here would leave started.Wait hanging.
				defer started.Done()
				for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					if strings.Contains(out.String(), "up") {
						return
					}
				}
				b.Error("a session did not start within a minute")
			}()
		}
		started.Wait()
		heap1, stack1 := memInUse()
		if f := os.Getenv("HEAPPROFILE"); f != "" {
			pf, _ := os.Create(f)
			pprof.WriteHeapProfile(pf)
			pf.Close()
		}
		b.ReportMetric(float64(heap1-heap0)/n/1024, "heap-KiB/session")
		b.ReportMetric(float64(stack1-stack0)/n/1024, "stack-KiB/session")
		b.ReportMetric(float64(runtime.NumGoroutine())/n, "goroutines/session")
		cancel()
		wg.Wait()
	}
}

func memInUse() (heap, stack uint64) {
	runtime.GC()
	runtime.GC() // a second cycle empties sync.Pool's victim cache
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.StackInuse
}
