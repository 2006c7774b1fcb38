package notify

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// settleGoroutines waits for the goroutine count to come back to at most
// want; it fails the test with a dump if it does not.
func settleGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), want, buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAlerterSends(t *testing.T) {
	svc := newService(t, answer(200, "ok"))
	mm := newService(t, answer(200, "ok"))
	a := NewAlerter(AlerterConfig{
		Channels: []Sender{slackAt(t, svc.URL, time.Second), &Mattermost{Endpoint: endpoint(t, "mm", mm.URL)}},
		Kinds:    []AlertKind{AlertAdminLogin, AlertHostKeyChanged},
		Bastion:  "bh1",
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	if !a.Alert(Alert{Kind: AlertAdminLogin, Request: Request{Account: "root-admin", SourceIP: "192.0.2.9"}}) {
		t.Fatal("admin login alert not queued")
	}
	if a.Alert(Alert{Kind: AlertAccountCreated, Request: Request{Account: "x"}}) {
		t.Fatal("an alert kind not configured was queued")
	}
	a.Alert(Alert{Kind: AlertHostKeyChanged, Request: Request{Target: "db1:22"}, Detail: "SHA256:abc → SHA256:def"})
	waitFor(t, func() bool { return a.Stats().Sent == 4 })
	cancel()
	<-done
	st := a.Stats()
	if st.Enqueued != 4 || st.Filtered != 1 || st.Dropped != 0 || st.Failed != 0 || st.Channels["slack"].Sent != 2 {
		t.Errorf("stats %+v", st)
	}
	body := string(svc.requests()[0].Body)
	if !strings.Contains(body, "admin login") || !strings.Contains(body, "root-admin") || !strings.Contains(body, "192.0.2.9") {
		t.Errorf("alert body %s", body)
	}
	if !strings.Contains(string(mm.requests()[1].Body), "SHA256:def") {
		t.Errorf("host key alert %s", mm.requests()[1].Body)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAlerterNeverBlocks: with a hanging channel and a small queue, Alert
// returns at once, drops what does not fit, counts it, and a healthy
// channel still gets everything. Shutdown leaves no goroutine behind.
func TestAlerterNeverBlocks(t *testing.T) {
	hang := newService(t, func(w http.ResponseWriter, r *http.Request, _ int) { <-r.Context().Done() })
	good := newService(t, answer(200, "ok"))
	base := runtime.NumGoroutine()

	hangClient, goodClient := testClient(t), testClient(t)
	a := NewAlerter(AlerterConfig{
		Channels: []Sender{
			&Slack{Endpoint{Name: "down", URL: hang.URL, Client: hangClient}},
			&Slack{Endpoint{Name: "up", URL: good.URL, Client: goodClient}},
		},
		QueueSize:   3,
		SendTimeout: 20 * time.Second,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()

	for i := range 20 {
		start := time.Now()
		a.Alert(Alert{Kind: AlertAccessRefused, Request: Request{Account: "u" + itoa(i)}})
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Fatalf("Alert blocked for %v", d)
		}
		if i%4 == 3 {
			time.Sleep(20 * time.Millisecond) // let the healthy channel keep up
		}
	}
	waitFor(t, func() bool { return a.Stats().Channels["up"].Sent+a.Stats().Channels["up"].Dropped == 20 })
	st := a.Stats()
	down := st.Channels["down"]
	// One in flight (hanging) plus 3 queued; the rest dropped.
	if down.Dropped < 15 || down.Sent != 0 || down.Enqueued+down.Dropped != 20 {
		t.Errorf("down channel stats %+v", down)
	}
	if up := st.Channels["up"]; up.Sent < 15 {
		t.Errorf("healthy channel stats %+v: delayed by the hanging one?", up)
	}

	start := time.Now()
	cancel()
	<-done
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v with a hanging channel", d)
	}
	st = a.Stats()
	// Every alert is accounted for exactly once: sent, failed, or dropped
	// (queue full, or still queued at shutdown).
	for name, d := range st.Channels {
		if d.Queued != 0 || d.Sent+d.Failed+d.Dropped != 20 {
			t.Errorf("after shutdown, %s: %+v", name, d)
		}
	}
	if a.Alert(Alert{Kind: AlertAccessRefused}) {
		t.Error("Alert after shutdown queued")
	}
	hangClient.CloseIdleConnections()
	goodClient.CloseIdleConnections()
	settleGoroutines(t, base)
}

func TestFailureCounter(t *testing.T) {
	c := &FailureCounter{Threshold: 3, Window: time.Minute}
	steps := []struct {
		account string
		at      time.Duration
		count   int
		fire    bool
	}{
		{"bob", 0, 1, false},
		{"bob", 10 * time.Second, 2, false},
		{"eve", 11 * time.Second, 1, false},
		{"bob", 20 * time.Second, 3, true},   // reaches the threshold
		{"bob", 30 * time.Second, 3, false},  // already over: no second alert
		{"bob", 95 * time.Second, 1, false},  // the others left the window
		{"bob", 100 * time.Second, 2, false}, //
		{"bob", 110 * time.Second, 3, true},  // a new burst fires again
	}
	for i, s := range steps {
		count, fire := c.Add(s.account, t0.Add(s.at))
		if count != s.count || fire != s.fire {
			t.Errorf("step %d (%s at %v): Add = %d, %v; want %d, %v", i, s.account, s.at, count, fire, s.count, s.fire)
		}
	}
	c.Reset("bob")
	if n, _ := c.Add("bob", t0.Add(111*time.Second)); n != 1 {
		t.Errorf("after Reset count %d, want 1", n)
	}
}
