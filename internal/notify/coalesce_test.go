package notify

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestCoalescer: the first alert of a key is sent, repeats within the window are held back,
// the first after it is sent with the count; keys are independent; no window sends all.
func TestCoalescer(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	type step struct {
		key       string
		at        time.Duration
		send      bool
		heldSince int
	}
	for _, tc := range []struct {
		name   string
		window time.Duration
		steps  []step
	}{
		{"storm", 10 * time.Minute, []step{{"a", 0, true, 0}, {"a", time.Minute, false, 0}, {"a", 9 * time.Minute, false, 0},
			{"a", 10 * time.Minute, true, 2}, {"a", 11 * time.Minute, false, 0}, {"a", 30 * time.Minute, true, 1}, {"a", 41 * time.Minute, true, 0}}},
		{"keys apart", 10 * time.Minute, []step{{"admin_login|alice", 0, true, 0}, {"admin_login|bob", time.Second, true, 0},
			{"access_refused|alice", 2 * time.Second, true, 0}, {"admin_login|alice", 3 * time.Second, false, 0}}},
		{"off", 0, []step{{"a", 0, true, 0}, {"a", time.Second, true, 0}, {"a", 2 * time.Second, true, 0}}},
		{"clock back", 10 * time.Minute, []step{{"a", time.Hour, true, 0}, {"a", 0, true, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Coalescer{Window: tc.window}
			for i, s := range tc.steps {
				send, held := c.Admit(s.key, t0.Add(s.at))
				if send != s.send || held != s.heldSince {
					t.Errorf("step %d (%s at %v): send %v held %d, want %v %d", i, s.key, s.at, send, held, s.send, s.heldSince)
				}
			}
		})
	}
}

// TestAlerterCoalescesAndNamesTheBastion: 50 admin-login alerts for one admin within 14
// minutes (a clock the test moves) make 2 messages, the second saying how many were held
// back; the title names the bastion; the audit log's alerts are never held back.
func TestAlerterCoalescesAndNamesTheBastion(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	sink := &captureSender{name: "ops", got: make(chan *Message, 100)}
	a := NewAlerter(AlerterConfig{Channels: []Sender{sink}, Bastion: "bastion-paris", Coalesce: 10 * time.Minute,
		Now: func() time.Time { return now }, QueueSize: 100})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range 50 {
		now = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * 14 * time.Minute / 50)
		a.Alert(Alert{Kind: AlertAdminLogin, Request: Request{Account: "root-admin", SourceIP: "192.0.2.1"}})
	}
	a.Alert(Alert{Kind: AlertAuditLog, Detail: "failing"})
	a.Alert(Alert{Kind: AlertAuditLog, Detail: "failing"})
	// The same account from another address (a stolen key) is not held back.
	a.Alert(Alert{Kind: AlertAdminLogin, Request: Request{Account: "root-admin", SourceIP: "203.0.113.66"}})
	// Another detail is another alert (a sync refused for another reason); the same is held.
	a.Alert(Alert{Kind: AlertSyncRefused, Detail: "source s3: too many removals"})
	a.Alert(Alert{Kind: AlertSyncRefused, Detail: "source s3: lists no account"})
	a.Alert(Alert{Kind: AlertSyncRefused, Detail: "source s3: lists no account"})
	var got []*Message
	for len(got) < 7 {
		select {
		case m := <-sink.got:
			got = append(got, m)
		case <-time.After(5 * time.Second):
			t.Fatalf("got %d messages, want 7", len(got))
		}
	}
	logins := 0
	for _, m := range got {
		if !strings.HasPrefix(m.Title(), "bastion-paris alert: ") {
			t.Errorf("title %q does not name the bastion", m.Title())
		}
		if m.Alert == AlertAdminLogin {
			logins++
			if logins == 2 && !strings.Contains(m.Detail, "35 more like it in the 10m0s before were not sent") {
				t.Errorf("second login alert detail %q", m.Detail)
			}
		}
	}
	if logins != 3 {
		t.Errorf("%d admin login alerts, want 2 from the owner's address and 1 from the other", logins)
	}
	if s := a.Stats(); s.Held != 49 {
		t.Errorf("held %d, want 49", s.Held)
	}
}
