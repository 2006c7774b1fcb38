package approval

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/notify"
)

// TestPending200Approvals: 200 users wait on approval at once; each Wait is
// the caller's goroutine and nothing more, every one ends approved, and
// afterwards no goroutine or waker is left.
func TestPending200Approvals(t *testing.T) {
	chat := newChat(t, 200, "ok")
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	slack := &notify.Slack{Endpoint: notify.Endpoint{Name: "slack", URL: chat.URL, Client: &http.Client{Transport: tr}}}
	m := NewManager(Config{Logger: quiet(), Poll: 50 * time.Millisecond})
	ctx := context.Background()
	base := runtime.NumGoroutine()

	const n = 200
	ids := make(chan string, n)
	results := make(chan error, n)
	var ticks sync.WaitGroup
	ticks.Add(n)
	for i := range n {
		go func() {
			rec, err := m.Start(ctx, notify.Request{Account: "user" + string(rune('a'+i%26))}, Policy{Channels: []Channel{{Sender: slack}}, TTL: time.Minute})
			if err != nil {
				ticks.Done()
				results <- err
				return
			}
			ids <- rec.ID
			first := true
			_, err = m.Wait(ctx, rec.ID, func(time.Duration) {
				if first {
					first = false
					ticks.Done()
				}
			})
			results <- err
		}()
	}
	ticks.Wait() // all 200 are waiting and have shown their countdown
	time.Sleep(200 * time.Millisecond)
	waiting := runtime.NumGoroutine() - base
	for range n {
		if _, err := m.Decide(ctx, <-ids, Approve, Approver{Account: "approver", Via: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		if err := <-results; err != nil {
			t.Errorf("Wait = %v", err)
		}
	}
	tr.CloseIdleConnections()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("goroutines: base %d, +%d while 200 wait, %d after", base, waiting, runtime.NumGoroutine())
	if waiting > n+3*16+4 {
		t.Errorf("%d goroutines while 200 wait: more than one per waiter plus the connection pool", waiting)
	}
	if after := runtime.NumGoroutine(); after > base {
		t.Errorf("%d goroutines after, base %d", after, base)
	}
	m.mu.Lock()
	left := len(m.wakers)
	m.mu.Unlock()
	if left != 0 {
		t.Errorf("%d wakers left", left)
	}
}
