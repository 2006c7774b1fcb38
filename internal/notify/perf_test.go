package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"sync"
	"testing"
	"time"
)

const concurrentLogins = 200

type pendingFigures struct {
	goroutinesBase, goroutinesWaiting, goroutinesAfter int
	heapBase, heapWaiting, heapAfter                   uint64 // live heap (HeapAlloc after GC), bytes
	startAll                                           time.Duration
	verified                                           int
}

// settledGoroutines samples the goroutine count until it stops changing
// for 100 ms (at most 2 s).
func settledGoroutines() int {
	n, stable := runtime.NumGoroutine(), time.Now()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := runtime.NumGoroutine(); m != n {
			n, stable = m, time.Now()
		} else if time.Since(stable) > 100*time.Millisecond {
			break
		}
	}
	return n
}

// liveHeap is the heap in live objects after two collections (the second
// empties sync.Pool victim caches, which are not ours to count).
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

var slackCode = regexp.MustCompile("Code for session \\*([A-Z2-7]{6})\\*: `([0-9]+)`")

// runPending200 starts 200 logins at once, each posting its code to a
// stand-in Slack and then waiting (as an SSH session goroutine would) for
// the user to type it; it measures while all 200 wait, then lets every one
// type the code the channel received and measures again.
func runPending200(tb testing.TB) pendingFigures {
	var mu sync.Mutex
	codes := map[string]string{} // label → code, as read by people in the channel
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p slackMessage
		if json.Unmarshal(b, &p) != nil {
			w.WriteHeader(400)
			io.WriteString(w, "invalid_payload")
			return
		}
		for _, bl := range p.Blocks {
			if bl.Text != nil {
				if m := slackCode.FindStringSubmatch(bl.Text.Text); m != nil {
					mu.Lock()
					codes[m[1]] = m[2]
					mu.Unlock()
				}
			}
		}
		io.WriteString(w, "ok")
	}))
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	f, err := NewCodeFactor(CodeConfig{
		Channels: []Sender{&Slack{Endpoint{Name: "slack", URL: svc.URL + "/services/T/B/x", Client: &http.Client{Transport: tr}}}},
		Bastion:  "bh1",
		Logger:   quietLogger(),
	})
	if err != nil {
		tb.Fatal(err)
	}

	var fig pendingFigures
	fig.goroutinesBase = runtime.NumGoroutine()
	fig.heapBase = liveHeap()

	type session struct {
		ch   *CodeChallenge
		typ  chan string
		done chan error
	}
	sessions := make([]session, concurrentLogins)
	var started sync.WaitGroup
	begin := time.Now()
	for i := range sessions {
		s := &sessions[i]
		s.typ, s.done = make(chan string), make(chan error, 1)
		started.Add(1)
		go func() { // the SSH session: start the factor, then wait for the user
			ch, err := f.Start(context.Background(), Request{Account: "user" + itoa(i), SourceIP: "192.0.2.1", Target: "root@srv:22"})
			s.ch = ch
			started.Done()
			if err != nil {
				s.done <- err
				return
			}
			s.done <- ch.Verify(<-s.typ)
		}()
	}
	started.Wait()
	fig.startAll = time.Since(begin)
	// Let connections beyond the client's idle pool finish closing, so the
	// figure shows what stays while people read the channel and type.
	fig.goroutinesWaiting = settledGoroutines()
	fig.heapWaiting = liveHeap()

	for i := range sessions {
		s := &sessions[i]
		if s.ch == nil {
			tb.Fatalf("session %d: %v", i, <-s.done)
		}
		mu.Lock()
		code := codes[s.ch.Label]
		mu.Unlock()
		s.typ <- code
		if err := <-s.done; err != nil {
			tb.Errorf("session %d: Verify = %v", i, err)
		} else {
			fig.verified++
		}
	}
	sessions = nil
	tr.CloseIdleConnections()
	svc.Close()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > fig.goroutinesBase && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	fig.goroutinesAfter = runtime.NumGoroutine()
	fig.heapAfter = liveHeap()
	return fig
}

// TestPending200LeavesNothing: 200 concurrent code challenges all verify,
// the factor holds no goroutine per pending challenge, and when they end
// goroutines and heap return to where they were.
func TestPending200LeavesNothing(t *testing.T) {
	runPending200(t) // warm up: first use of net/http, regexp… allocates for good
	fig := runPending200(t)
	t.Logf("goroutines base %d, waiting %d, after %d; live heap base %d KiB, waiting %d KiB, after %d KiB; 200 Starts in %v",
		fig.goroutinesBase, fig.goroutinesWaiting, fig.goroutinesAfter, fig.heapBase>>10, fig.heapWaiting>>10, fig.heapAfter>>10, fig.startAll)
	if fig.verified != concurrentLogins {
		t.Errorf("%d of %d logins verified", fig.verified, concurrentLogins)
	}
	// While waiting: the 200 session goroutines plus the HTTP server and
	// client connections (at most a few per kept connection), not more.
	if extra := fig.goroutinesWaiting - fig.goroutinesBase - concurrentLogins; extra > 3*16+4 {
		t.Errorf("%d goroutines beyond the 200 sessions while waiting", extra)
	}
	if fig.goroutinesAfter > fig.goroutinesBase {
		t.Errorf("goroutines after %d > base %d", fig.goroutinesAfter, fig.goroutinesBase)
	}
	if fig.heapAfter > fig.heapBase+256<<10 {
		t.Errorf("heap after %d KiB, base %d KiB: something kept", fig.heapAfter>>10, fig.heapBase>>10)
	}
}

// BenchmarkPending200 reports the same figures per run of 200 logins:
//
//	go test -run '^$' -bench Pending200 -benchtime 5x ./internal/notify/
func BenchmarkPending200(b *testing.B) {
	var fig pendingFigures
	for b.Loop() {
		fig = runPending200(b)
	}
	b.ReportMetric(float64(fig.goroutinesWaiting-fig.goroutinesBase), "goroutines-waiting")
	b.ReportMetric(float64(fig.goroutinesAfter-fig.goroutinesBase), "goroutines-left")
	b.ReportMetric(float64(int64(fig.heapWaiting)-int64(fig.heapBase))/1024, "heapKiB-waiting")
	b.ReportMetric(float64(int64(fig.heapAfter)-int64(fig.heapBase))/1024, "heapKiB-left")
	b.ReportMetric(float64(fig.startAll.Milliseconds()), "ms-200-starts")
}
