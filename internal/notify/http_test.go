package notify

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func slackAt(t *testing.T, url string, timeout time.Duration) *Slack {
	s := &Slack{endpoint(t, "slack", url+"/services/T0/B0/SECRET")}
	s.Timeout = timeout
	return s
}

func TestRetryAfter(t *testing.T) {
	date := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(http.TimeFormat) }
	cases := []struct {
		name      string
		timeout   time.Duration
		first     func(w http.ResponseWriter)
		wantErr   error
		wantReqs  int
		minWait   time.Duration
		maxElapse time.Duration
	}{
		{"429 seconds within deadline", 4 * time.Second, func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
		}, nil, 2, 900 * time.Millisecond, 3 * time.Second},
		{"429 HTTP-date within deadline", 4 * time.Second, func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", date(1500*time.Millisecond))
			w.WriteHeader(429)
		}, nil, 2, 400 * time.Millisecond, 3 * time.Second},
		{"503 with Retry-After", 4 * time.Second, func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(503)
		}, nil, 2, 0, time.Second},
		{"Discord JSON retry_after", 4 * time.Second, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(429)
			w.Write([]byte(`{"message":"You are being rate limited.","retry_after":0.3,"global":false}`))
		}, nil, 2, 250 * time.Millisecond, 2 * time.Second},
		{"429 beyond deadline fails at once", 2 * time.Second, func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(429)
		}, ErrRateLimited, 1, 0, 500 * time.Millisecond},
		{"429 without Retry-After fails", 2 * time.Second, func(w http.ResponseWriter) {
			w.WriteHeader(429)
		}, ErrRejected, 1, 0, 500 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := newService(t, func(w http.ResponseWriter, _ *http.Request, n int) {
				if n == 0 {
					c.first(w)
					return
				}
				w.Write([]byte("ok"))
			})
			start := time.Now()
			err := slackAt(t, svc.URL, c.timeout).Send(context.Background(), codeMessage())
			elapsed := time.Since(start)
			if !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
				t.Fatalf("Send = %v, want %v", err, c.wantErr)
			}
			if n := len(svc.requests()); n != c.wantReqs {
				t.Errorf("%d requests, want %d", n, c.wantReqs)
			}
			if elapsed < c.minWait || elapsed > c.maxElapse {
				t.Errorf("took %v, want between %v and %v", elapsed, c.minWait, c.maxElapse)
			}
		})
	}
}

// TestRetryAfterRespectsCallerDeadline: the caller's (factor's) deadline,
// not only the sender's timeout, bounds the wait.
func TestRetryAfterRespectsCallerDeadline(t *testing.T) {
	svc := newService(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(429)
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	err := slackAt(t, svc.URL, 30*time.Second).Send(ctx, codeMessage())
	if !errors.Is(err, ErrRateLimited) || time.Since(start) > 500*time.Millisecond {
		t.Fatalf("Send = %v after %v, want ErrRateLimited at once", err, time.Since(start))
	}
}

// TestRetryAttemptsBounded: a service that keeps answering 429 with
// Retry-After 0 is not hammered forever.
func TestRetryAttemptsBounded(t *testing.T) {
	svc := newService(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(429)
	})
	err := slackAt(t, svc.URL, 5*time.Second).Send(context.Background(), codeMessage())
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("Send = %v, want ErrRateLimited", err)
	}
	if n := len(svc.requests()); n != maxAttempts {
		t.Errorf("%d requests, want %d", n, maxAttempts)
	}
}

// TestHangingServiceFailsClosed: a service that never answers fails the
// send by the deadline, for every kind of channel.
func TestHangingServiceFailsClosed(t *testing.T) {
	for _, c := range channelCases {
		t.Run(c.name, func(t *testing.T) {
			svc := newService(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				select {
				case <-r.Context().Done():
				case <-time.After(10 * time.Second):
				}
			})
			s := c.sender(t, svc.URL)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := s.Send(ctx, codeMessage())
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("Send = %v, want ErrTimeout", err)
			}
			if el := time.Since(start); el > 1500*time.Millisecond {
				t.Errorf("took %v, want about 300ms", el)
			}
			if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "127.0.0.1") {
				t.Errorf("error %q reveals the URL", err)
			}
		})
	}
}

// TestSenderTimeoutAlone: the Endpoint.Timeout bounds a send even when the
// caller's context has no deadline.
func TestSenderTimeoutAlone(t *testing.T) {
	svc := newService(t, func(w http.ResponseWriter, r *http.Request, _ int) { <-r.Context().Done() })
	start := time.Now()
	err := slackAt(t, svc.URL, 200*time.Millisecond).Send(context.Background(), codeMessage())
	if !errors.Is(err, ErrTimeout) || time.Since(start) > time.Second {
		t.Fatalf("Send = %v after %v", err, time.Since(start))
	}
}

func TestConnectionRefusedHidesURL(t *testing.T) {
	svc := newService(t, answer(200, "ok"))
	url := svc.URL
	svc.Close()
	err := slackAt(t, url, time.Second).Send(context.Background(), codeMessage())
	var de *DeliveryError
	if !errors.As(err, &de) || de.Status != 0 {
		t.Fatalf("Send = %v, want a transport DeliveryError", err)
	}
	if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), url) {
		t.Errorf("error %q reveals the URL", err)
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	elsewhere := newService(t, answer(200, "ok"))
	svc := newService(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusTemporaryRedirect)
	})
	s := &Slack{Endpoint{Name: "slack", URL: svc.URL + "/services/x"}} // default client
	err := s.Send(context.Background(), codeMessage())
	if !errors.Is(err, ErrRejected) {
		t.Fatalf("Send = %v, want ErrRejected", err)
	}
	if n := len(elsewhere.requests()); n != 0 {
		t.Errorf("redirect target got %d requests", n)
	}
}

// TestLargeAnswerBounded: a service answering with a huge body is read only
// up to the limit and the send still concludes.
func TestLargeAnswerBounded(t *testing.T) {
	svc := newService(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for range 64 { // 4 MiB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	err := slackAt(t, svc.URL, 3*time.Second).Send(context.Background(), codeMessage())
	var de *DeliveryError
	if !errors.As(err, &de) || !errors.Is(err, ErrRejected) || len(de.Reason) > 300 {
		t.Fatalf("Send = %v", err)
	}
}

func TestRetryAfterParse(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		header, body string
		want         time.Duration
		ok           bool
	}{
		{"120", "", 120 * time.Second, true},
		{"0", "", 0, true},
		{"1.5", "", 1500 * time.Millisecond, true},
		{now.Add(7 * time.Second).Format(http.TimeFormat), "", 7 * time.Second, true},
		{now.Add(-7 * time.Second).Format(http.TimeFormat), "", 0, true},
		{"soon", "", 0, false},
		{"-3", "", 0, false},
		{"", `{"retry_after":0.25}`, 250 * time.Millisecond, true},
		{"", `{"message":"x"}`, 0, false},
		{"", "", 0, false},
	}
	for _, c := range cases {
		h := http.Header{}
		if c.header != "" {
			h.Set("Retry-After", c.header)
		}
		got, ok := retryAfter(h, []byte(c.body), now)
		if got != c.want || ok != c.ok {
			t.Errorf("retryAfter(%q, %q) = %v, %v; want %v, %v", c.header, c.body, got, ok, c.want, c.ok)
		}
	}
}
