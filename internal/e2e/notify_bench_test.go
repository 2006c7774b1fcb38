package e2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/app"
	"gatehouse/internal/sshkey"
	"gatehouse/internal/store"
)

// pendingBastion is a gatehouse whose every goroutine carries the pprof label side=server
// (labels are inherited), so that the server's goroutines can be told from the in-process
// clients' while both run in the test binary.
type pendingBastion struct {
	app  *app.App
	addr string
	hook *hook
	stop func()
}

func startLabelled(tb testing.TB, n int) (*pendingBastion, ssh.Signer) {
	tb.Helper()
	h := newHook(tb, "slack")
	dir := filepath.Join(tb.TempDir(), "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	cfg := "maxStartups = \"1000\"\nperSourceMaxStartups = 0\nloginGraceTime = 120\nMFARateLimitAttempts = 100\n[notify]\ncodes = [\"chat\"]\n" +
		strings.Replace(channelTOML("chat", h, ""), `timeout = "2s"`, `timeout = "20s"`, 1)
	if err := os.WriteFile(filepath.Join(dir, "gatehouse.toml"), []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.Open(ctx, app.Options{DataDir: dir, Listen: "127.0.0.1:0", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	spub, _ := ssh.NewPublicKey(pub)
	k, err := sshkey.Parse(string(ssh.MarshalAuthorizedKey(spub)))
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		acc := store.Account{Name: fmt.Sprintf("p%03d", i), CreatedAt: time.Now().UTC(), CreatedBy: "bench", AlwaysActive: true,
			MaxInactiveDays: -1, Settings: map[string]string{"mfa_webhook_required": "yes"}}
		ik := store.IngressKey{Line: k.Line, Type: k.Type, Fingerprint: k.Fingerprint, CreatedAt: time.Now().UTC()}
		if err := a.Store.CreateAccount(ctx, acc, []store.IngressKey{ik}); err != nil {
			tb.Fatal(err)
		}
	}
	ln, err := a.Listen()
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go pprof.Do(ctx, pprof.Labels("side", "server"), func(ctx context.Context) {
		defer close(done)
		_ = a.Serve(ctx, ln)
	})
	pb := &pendingBastion{app: a, addr: ln.Addr().String(), hook: h}
	pb.stop = func() {
		cancel()
		<-done
		a.Close()
	}
	tb.Cleanup(pb.stop)
	return pb, signer
}

var labelsRe = regexp.MustCompile(`(?m)^(\d+) @[^\n]*\n# labels: \{[^}]*"side":"server"`)

// serverGoroutines counts the goroutines labelled side=server.
func serverGoroutines() int {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
	n := 0
	for _, m := range labelsRe.FindAllStringSubmatch(buf.String(), -1) {
		c, _ := strconv.Atoi(m[1])
		n += c
	}
	return n
}

func liveHeapKiB() float64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapAlloc) / 1024
}

// pendingFigures are what one round measured.
type pendingFigures struct {
	baseG, waitG, afterG, afterIdleG int
	baseHeap, waitHeap, afterHeap    float64
	all                              time.Duration
}

// pendingLogins logs n accounts in at once with x/crypto/ssh clients; each one's
// keyboard-interactive callback receives "Code for session X:", then waits until all n are
// waiting; the figures are taken; then each reads its code from the stand-in Slack and answers.
func pendingLogins(tb testing.TB, pb *pendingBastion, signer ssh.Signer, n int, round int) pendingFigures {
	var f pendingFigures
	f.baseG, f.baseHeap = serverGoroutines(), liveHeapKiB()
	var waiting, finished sync.WaitGroup
	waiting.Add(n)
	release := make(chan struct{})
	errs := make(chan error, n)
	start := time.Now()
	for i := range n {
		finished.Add(1)
		go func() {
			defer finished.Done()
			once := sync.OnceFunc(waiting.Done)
			defer once()
			cfg := &ssh.ClientConfig{User: fmt.Sprintf("p%03d", i), HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 60 * time.Second,
				Auth: []ssh.AuthMethod{ssh.PublicKeys(signer), ssh.KeyboardInteractive(func(_, _ string, qs []string, _ []bool) ([]string, error) {
					if len(qs) == 0 {
						return nil, nil // a message (the banner): nothing to answer
					}
					label := strings.TrimSuffix(strings.TrimPrefix(qs[0], "Code for session "), ": ")
					once()
					<-release
					return []string{codeIn(tb, pb.hook.waitFor(tb, label).Body, label)}, nil
				})}}
			c, err := ssh.Dial("tcp", pb.addr, cfg)
			if err != nil {
				errs <- fmt.Errorf("p%03d: %w", i, err)
				return
			}
			c.Close()
		}()
	}
	waiting.Wait()
	f.waitG, f.waitHeap = serverGoroutines(), liveHeapKiB()
	close(release)
	finished.Wait()
	f.all = time.Since(start)
	close(errs)
	for err := range errs {
		tb.Fatalf("round %d: %v", round, err)
	}
	// Let the server notice the closed connections.
	deadline := time.Now().Add(5 * time.Second)
	for serverGoroutines() > f.baseG+40 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	f.afterG = serverGoroutines()
	pb.app.Notify.CloseIdleConnections()
	deadline = time.Now().Add(5 * time.Second)
	for serverGoroutines() > f.baseG && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	f.afterIdleG = serverGoroutines()
	f.afterHeap = liveHeapKiB()
	return f
}

// TestNotify200PendingLogins: 200 logins wait on their webhook code at once; every one gets in
// with the code the stand-in Slack received, and afterwards the server has no goroutine left
// beyond the pooled connections to the chat service (none once those are closed).
func TestNotify200PendingLogins(t *testing.T) {
	pb, signer := startLabelled(t, 200)
	pendingLogins(t, pb, signer, 1, 0) // warm-up: the pool, the store, the first handshake
	pb.app.Notify.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	f := pendingLogins(t, pb, signer, 200, 1)
	t.Logf("server goroutines: before %d, 200 waiting %d (%.1f per login), after %d, after closing idle chat connections %d",
		f.baseG, f.waitG, float64(f.waitG-f.baseG)/200, f.afterG, f.afterIdleG)
	t.Logf("live heap (whole process, clients included): before %.0f KiB, waiting %.0f KiB (%.1f KiB per login), after %.0f KiB; 200 logins in %v",
		f.baseHeap, f.waitHeap, (f.waitHeap-f.baseHeap)/200, f.afterHeap, f.all.Round(time.Millisecond))
	if p := os.Getenv("GH_HEAP_PROFILE"); p != "" {
		runtime.GC()
		fh, _ := os.Create(p)
		_ = pprof.Lookup("heap").WriteTo(fh, 0)
		fh.Close()
	}
	if f.waitG < f.baseG+200 {
		t.Fatalf("only %d server goroutines while 200 logins wait: are they really waiting?", f.waitG-f.baseG)
	}
	if f.afterIdleG > f.baseG {
		t.Fatalf("server goroutines left behind: %d after, %d before", f.afterIdleG, f.baseG)
	}
	if f.afterHeap > f.baseHeap+4096 { // the runtime keeps dead goroutines' descriptors for reuse
		t.Fatalf("heap grew by %.0f KiB after the logins ended", f.afterHeap-f.baseHeap)
	}
	if n := len(pb.hook.requests()); n != 201 {
		t.Fatalf("the chat service got %d messages, want 201", n)
	}
}

// BenchmarkNotify200PendingLogins reports the same figures per round of 200 logins:
//
//	go test -run '^$' -bench Notify200 -benchtime 3x ./internal/e2e/
func BenchmarkNotify200PendingLogins(b *testing.B) {
	pb, signer := startLabelled(b, 200)
	pendingLogins(b, pb, signer, 1, 0) // warm-up
	b.ResetTimer()
	var sum pendingFigures
	for i := range b.N {
		f := pendingLogins(b, pb, signer, 200, i+1)
		sum.waitG += f.waitG - f.baseG
		sum.afterG += f.afterIdleG - f.baseG
		sum.waitHeap += f.waitHeap - f.baseHeap
		sum.afterHeap += f.afterHeap - f.baseHeap
		sum.all += f.all
	}
	n := float64(b.N)
	b.ReportMetric(float64(sum.waitG)/n, "server-goroutines-waiting")
	b.ReportMetric(float64(sum.afterG)/n, "server-goroutines-left")
	b.ReportMetric(sum.waitHeap/n, "heapKiB-waiting")
	b.ReportMetric(sum.afterHeap/n, "heapKiB-left")
	b.ReportMetric(float64(sum.all.Milliseconds())/n, "ms-per-200")
	b.ReportMetric(0, "ns/op")
}
