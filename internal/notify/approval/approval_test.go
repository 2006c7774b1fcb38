package approval

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/notify"
)

var t0 = time.Date(2025, 3, 4, 10, 20, 30, 0, time.UTC)

func TestCheck(t *testing.T) {
	pending := Record{Request: notify.Request{Account: "bob"}, State: Pending, Expires: t0.Add(time.Minute)}
	with := func(f func(*Record)) Record { r := pending; f(&r); return r }
	fourEyes := with(func(r *Record) { r.FourEyes = true })
	listed := with(func(r *Record) { r.Approvers = []string{"alice", "carol"} })
	alice, bob, eve, nobody := Approver{Account: "alice"}, Approver{Account: "bob"}, Approver{Account: "eve"}, Approver{Via: "link"}
	cases := []struct {
		name string
		rec  Record
		act  Action
		by   Approver
		at   time.Time
		want error
	}{
		{"other approves", pending, Approve, alice, t0, nil},
		{"self approves without four eyes", pending, Approve, bob, t0, nil},
		{"self approves with four eyes", fourEyes, Approve, bob, t0, ErrFourEyes},
		{"other approves with four eyes", fourEyes, Approve, alice, t0, nil},
		{"self denies with four eyes", fourEyes, Deny, bob, t0, nil},
		{"unidentified approves unrestricted", pending, Approve, nobody, t0, nil},
		{"unidentified approves with four eyes", fourEyes, Approve, nobody, t0, ErrUnidentified},
		{"unidentified denies with four eyes", fourEyes, Deny, nobody, t0, ErrUnidentified},
		{"unidentified approves with list", listed, Approve, nobody, t0, ErrUnidentified},
		{"listed approves", listed, Approve, alice, t0, nil},
		{"unlisted approves", listed, Approve, eve, t0, ErrNotApprover},
		{"unlisted denies", listed, Deny, eve, t0, ErrNotApprover},
		{"requester not in list denies own", listed, Deny, bob, t0, nil},
		{"requester not in list approves own", listed, Approve, bob, t0, ErrNotApprover},
		{"at expiry", pending, Approve, alice, t0.Add(time.Minute), ErrExpired},
		{"after expiry", pending, Deny, alice, t0.Add(time.Hour), ErrExpired},
		{"already approved", with(func(r *Record) { r.State = Approved }), Approve, alice, t0, ErrDecided},
		{"already denied", with(func(r *Record) { r.State = Denied }), Approve, alice, t0, ErrDecided},
		{"expired state", with(func(r *Record) { r.State = Expired }), Approve, alice, t0, ErrExpired},
		{"bad action", pending, Action(7), alice, t0, ErrBadState},
	}
	for _, c := range cases {
		if got := check(c.rec, c.act, c.by, c.at); got != c.want {
			t.Errorf("%s: check = %v, want %v", c.name, got, c.want)
		}
	}
}

// recorder is an Observer that keeps everything.
type recorder struct {
	mu      sync.Mutex
	decided []Record
	refused []error
}

func (r *recorder) Decided(_ context.Context, rec Record) {
	r.mu.Lock()
	r.decided = append(r.decided, rec)
	r.mu.Unlock()
}

func (r *recorder) Refused(_ context.Context, _ string, _ Action, _ Approver, err error) {
	r.mu.Lock()
	r.refused = append(r.refused, err)
	r.mu.Unlock()
}

func (r *recorder) snapshot() ([]Record, []error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.decided...), append([]error(nil), r.refused...)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// chatService stands in for a chat webhook and keeps the bodies it got.
type chatService struct {
	*httptest.Server
	mu     sync.Mutex
	bodies [][]byte
}

func newChat(t *testing.T, status int, answer string) *chatService {
	c := &chatService{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.bodies = append(c.bodies, b)
		c.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *chatService) last(t *testing.T) []byte {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.bodies) == 0 {
		t.Fatal("the chat service got nothing")
	}
	return c.bodies[len(c.bodies)-1]
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestFinishIsAtomic(t *testing.T) {
	s := NewMemStore(nil)
	ctx := context.Background()
	s.Create(ctx, Record{ID: "r1", State: Pending, Expires: time.Now().Add(time.Minute)})
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			state := Approved
			if i%2 == 1 {
				state = Denied
			}
			if _, err := s.Finish(ctx, "r1", state, Approver{Account: "a"}, time.Now()); err == nil {
				wins.Add(1)
			} else if !errors.Is(err, ErrDecided) {
				t.Errorf("Finish = %v, want ErrDecided", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d winners, want exactly 1", wins.Load())
	}
	if err := s.Create(ctx, Record{ID: "r1"}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate Create = %v", err)
	}
	if _, err := s.Finish(ctx, "nope", Approved, Approver{}, time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Finish(unknown) = %v", err)
	}
	s.Create(ctx, Record{ID: "late", State: Pending, Expires: time.Now()})
	if _, err := s.Finish(ctx, "late", Approved, Approver{}, time.Now().Add(time.Second)); !errors.Is(err, ErrExpired) {
		t.Errorf("Finish after expiry = %v, want ErrExpired", err)
	}
}

func TestMemStorePrunes(t *testing.T) {
	c := &clock{t: t0}
	s := NewMemStore(c.Now)
	ctx := context.Background()
	s.Create(ctx, Record{ID: "old", State: Pending, Expires: t0.Add(time.Minute)})
	if fresh, _ := s.Remember(ctx, "k", t0.Add(time.Minute)); !fresh {
		t.Fatal("first Remember not fresh")
	}
	if fresh, _ := s.Remember(ctx, "k", t0.Add(time.Minute)); fresh {
		t.Fatal("second Remember fresh: replay not detected")
	}
	c.Add(time.Hour)
	s.Create(ctx, Record{ID: "new", State: Pending, Expires: c.Now().Add(time.Minute)})
	if _, err := s.Get(ctx, "old"); !errors.Is(err, ErrNotFound) || s.Len() != 1 {
		t.Errorf("old record kept: %v, len %d", err, s.Len())
	}
}

// TestWait covers the outcomes of waiting, with real timers and a short TTL.
func TestWait(t *testing.T) {
	chat := newChat(t, 200, "ok")
	slack := &notify.Slack{Endpoint: notify.Endpoint{Name: "slack", URL: chat.URL}}
	obs := &recorder{}
	m := NewManager(Config{Observer: obs, Poll: 100 * time.Millisecond, Logger: quiet()})
	policy := Policy{Channels: []Channel{{Sender: slack}}, TTL: 800 * time.Millisecond}
	ctx := context.Background()

	t.Run("expires with countdown", func(t *testing.T) {
		rec, err := m.Start(ctx, notify.Request{Account: "bob"}, policy)
		if err != nil {
			t.Fatal(err)
		}
		var ticks []time.Duration
		start := time.Now()
		got, err := m.Wait(ctx, rec.ID, func(d time.Duration) { ticks = append(ticks, d) })
		if !errors.Is(err, ErrExpired) || got.State != Expired || got.DecidedBy.Via != "timeout" {
			t.Fatalf("Wait = %+v, %v; want expired by timeout", got, err)
		}
		if el := time.Since(start); el < 700*time.Millisecond || el > 2*time.Second {
			t.Errorf("waited %v for an 800ms request", el)
		}
		if len(ticks) < 6 || ticks[0] > 800*time.Millisecond || ticks[len(ticks)-1] > 150*time.Millisecond {
			t.Errorf("ticks %v: want a countdown every 100ms", ticks)
		}
		for i := 1; i < len(ticks); i++ {
			if ticks[i] >= ticks[i-1] {
				t.Errorf("countdown not decreasing: %v", ticks)
			}
		}
		if _, err := m.Decide(ctx, rec.ID, Approve, Approver{Account: "alice"}); !errors.Is(err, ErrExpired) {
			t.Errorf("approve after expiry = %v", err)
		}
	})
	t.Run("approved wakes at once", func(t *testing.T) {
		rec, _ := m.Start(ctx, notify.Request{Account: "bob"}, Policy{Channels: policy.Channels, TTL: time.Minute})
		go func() {
			time.Sleep(50 * time.Millisecond)
			m.Decide(ctx, rec.ID, Approve, Approver{Account: "alice", Via: "test"})
		}()
		start := time.Now()
		got, err := m.Wait(ctx, rec.ID, nil)
		if err != nil || got.State != Approved || got.DecidedBy.Account != "alice" || time.Since(start) > 500*time.Millisecond {
			t.Fatalf("Wait = %+v, %v after %v", got, err, time.Since(start))
		}
	})
	t.Run("denied", func(t *testing.T) {
		rec, _ := m.Start(ctx, notify.Request{Account: "bob"}, Policy{Channels: policy.Channels, TTL: time.Minute})
		m.Decide(ctx, rec.ID, Deny, Approver{Account: "alice"})
		if got, err := m.Wait(ctx, rec.ID, nil); !errors.Is(err, ErrDenied) || got.State != Denied {
			t.Fatalf("Wait = %+v, %v", got, err)
		}
	})
	t.Run("user leaves", func(t *testing.T) {
		rec, _ := m.Start(ctx, notify.Request{Account: "bob"}, Policy{Channels: policy.Channels, TTL: time.Minute})
		cctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
		defer cancel()
		if _, err := m.Wait(cctx, rec.ID, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v", err)
		}
		if _, err := m.Decide(ctx, rec.ID, Approve, Approver{Account: "alice"}); !errors.Is(err, ErrExpired) {
			t.Errorf("late approve = %v, want ErrExpired", err)
		}
	})
	t.Run("unknown request", func(t *testing.T) {
		if _, err := m.Wait(ctx, "nope", nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Wait = %v", err)
		}
	})
	decided, _ := obs.snapshot()
	var states []string
	for _, d := range decided {
		states = append(states, d.State.String()+"/"+d.DecidedBy.Via)
	}
	want := []string{"expired/timeout", "approved/test", "denied/", "expired/cancelled"}
	if len(states) != len(want) {
		t.Fatalf("observer saw %v, want %v", states, want)
	}
	for i := range want {
		if states[i] != want[i] {
			t.Errorf("observer saw %v, want %v", states, want)
		}
	}
}

func TestStartFailsClosed(t *testing.T) {
	down := newChat(t, 404, "no_service")
	obs := &recorder{}
	m := NewManager(Config{Observer: obs, Logger: quiet()})
	slack := &notify.Slack{Endpoint: notify.Endpoint{Name: "slack", URL: down.URL}}
	_, err := m.Start(context.Background(), notify.Request{Account: "bob"}, Policy{Channels: []Channel{{Sender: slack}}})
	if !errors.Is(err, notify.ErrUndelivered) {
		t.Fatalf("Start = %v, want ErrUndelivered", err)
	}
	decided, _ := obs.snapshot()
	if len(decided) != 1 || decided[0].State != Expired || decided[0].DecidedBy.Via != "undelivered" {
		t.Errorf("observer %+v", decided)
	}
	// A channel without buttons needs links.
	teams := &notify.TeamsWorkflow{Endpoint: notify.Endpoint{Name: "teams", URL: down.URL}}
	if _, err := m.Start(context.Background(), notify.Request{Account: "bob"}, Policy{Channels: []Channel{{Sender: teams}}}); err == nil {
		t.Error("Start with a Teams channel and no LinkSigner succeeded")
	}
	if _, err := m.Start(context.Background(), notify.Request{Account: "bob"}, Policy{}); !errors.Is(err, notify.ErrNoChannel) {
		t.Errorf("Start without channels = %v", err)
	}
}

// TestLinkPage: a decision link leads to the console's approvals page exactly when a link
// channel bound to nobody carries a request that must know who decides and the console is on.
func TestLinkPage(t *testing.T) {
	for _, slack := range []bool{false, true} {
		for _, bound := range []bool{false, true} {
			for _, restricted := range []bool{false, true} {
				for _, base := range []string{"", "https://console.example:8444/"} {
					got := LinkPage(slack, bound, restricted, base, "ABC123")
					want := ""
					if !slack && !bound && restricted && base != "" {
						want = "https://console.example:8444/approvals?session=ABC123"
					}
					if got != want {
						t.Errorf("slack %v bound %v restricted %v base %q: %q, want %q", slack, bound, restricted, base, got, want)
					}
				}
			}
		}
	}
}
