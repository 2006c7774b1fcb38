package ingress

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"gatehouse/internal/config"
)

var testPolicy = SourcePolicy{MaxStartups: 3, Penalties: true, AuthFail: 5 * time.Second, NoAuth: time.Second,
	Grace: 20 * time.Second, Min: 15 * time.Second, Max: 600 * time.Second}

func TestSourcePolicyAdmit(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	for _, tc := range []struct {
		name   string
		p      SourcePolicy
		s      SourceState
		want   SourceVerdict
		counts int // startups after
	}{
		{"new source", testPolicy, SourceState{}, SourceAdmit, 1},
		{"below the limit", testPolicy, SourceState{Startups: 2}, SourceAdmit, 3},
		{"at the limit", testPolicy, SourceState{Startups: 3}, SourceRefuseStartups, 3},
		{"no limit", SourcePolicy{Penalties: true}, SourceState{Startups: 1000}, SourceAdmit, 1001},
		{"penalized", testPolicy, SourceState{Active: true, Until: t0.Add(time.Second)}, SourceRefusePenalty, 0},
		{"penalty over", testPolicy, SourceState{Active: true, Until: t0}, SourceAdmit, 1},
		{"owes less than min", testPolicy, SourceState{Until: t0.Add(10 * time.Second)}, SourceAdmit, 1},
		{"penalties off", SourcePolicy{MaxStartups: 3}, SourceState{Active: true, Until: t0.Add(time.Hour)}, SourceAdmit, 1},
		{"exempt", SourcePolicy{MaxStartups: 3, Penalties: true, Exempt: true}, SourceState{Active: true, Until: t0.Add(time.Hour)}, SourceAdmit, 1},
		{"exempt still limited", SourcePolicy{MaxStartups: 3, Penalties: true, Exempt: true}, SourceState{Startups: 3}, SourceRefuseStartups, 3},
		{"penalized and at the limit", testPolicy, SourceState{Startups: 3, Active: true, Until: t0.Add(time.Second)}, SourceRefusePenalty, 3},
	} {
		s, v := tc.p.Admit(tc.s, t0)
		if v != tc.want || s.Startups != tc.counts {
			t.Errorf("%s: Admit = %v with %d startups, want %v with %d", tc.name, v, s.Startups, tc.want, tc.counts)
		}
	}
}

func TestSourcePolicyEnd(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	for _, tc := range []struct {
		name      string
		p         SourcePolicy
		s         SourceState
		ev        SourceEvent
		owes      time.Duration // Until - t0 after
		active    bool
		strikes   int
		startups  int
		forgotten bool
	}{
		{"success forgives", testPolicy, SourceState{Startups: 1, Strikes: 4, Last: t0}, SourceAuthOK, 0, false, 0, 0, true},
		{"one mistyped key owes 5s, not refused", testPolicy, SourceState{Startups: 1}, SourceAuthFail, 5 * time.Second, false, 1, 0, false},
		{"second failure in a row doubles: 15s owed, refused", testPolicy, SourceState{Startups: 1, Strikes: 1, Last: t0, Until: t0.Add(5 * time.Second)}, SourceAuthFail, 15 * time.Second, true, 2, 0, false},
		{"third after the first penalty ran out: 20s", testPolicy, SourceState{Strikes: 2, Last: t0.Add(-20 * time.Second), Until: t0.Add(-time.Second), Startups: 1}, SourceAuthFail, 20 * time.Second, true, 3, 0, false},
		{"a long run is capped at max", testPolicy, SourceState{Strikes: 40, Last: t0, Startups: 1}, SourceAuthFail, 600 * time.Second, true, 41, 0, false},
		{"debt never exceeds max", testPolicy, SourceState{Strikes: 1, Last: t0, Until: t0.Add(590 * time.Second), Startups: 1}, SourceGraceExceeded, 600 * time.Second, true, 2, 0, false},
		{"a quiet max forgives the run", testPolicy, SourceState{Strikes: 9, Last: t0.Add(-601 * time.Second), Startups: 1}, SourceAuthFail, 5 * time.Second, false, 1, 0, false},
		{"grace exceeded owes 20s at once", testPolicy, SourceState{Startups: 1}, SourceGraceExceeded, 20 * time.Second, true, 1, 0, false},
		{"no attempt owes 1s", testPolicy, SourceState{Startups: 2}, SourceNoAuth, time.Second, false, 1, 1, false},
		{"four dropped connections in a row: 1+2+4+8", testPolicy, SourceState{Startups: 1, Strikes: 3, Last: t0, Until: t0.Add(7 * time.Second)}, SourceNoAuth, 15 * time.Second, true, 4, 0, false},
		{"unknown outcome counts as a failure", testPolicy, SourceState{Startups: 1}, SourceEvent(99), 5 * time.Second, false, 1, 0, false},
		{"penalties off", SourcePolicy{MaxStartups: 3, Max: time.Minute}, SourceState{Startups: 1}, SourceAuthFail, 0, false, 0, 0, true},
		{"exempt", SourcePolicy{Penalties: true, Exempt: true, AuthFail: 5 * time.Second, Max: time.Minute}, SourceState{Startups: 1}, SourceAuthFail, 0, false, 0, 0, true},
		{"startups never below zero", testPolicy, SourceState{}, SourceAuthOK, 0, false, 0, 0, true},
		{"refused while the store is down: no strike", testPolicy, SourceState{Startups: 1}, SourceUnavailable, 0, false, 0, 0, true},
		{"refused while the store is down: earlier strikes kept", testPolicy, SourceState{Startups: 1, Strikes: 2, Last: t0, Until: t0.Add(5 * time.Second), Active: true},
			SourceUnavailable, 5 * time.Second, true, 2, 0, false},
	} {
		s := tc.p.End(tc.s, tc.ev, t0)
		owes := time.Duration(0)
		if s.Until.After(t0) {
			owes = s.Until.Sub(t0)
		}
		if owes != tc.owes || s.Active != tc.active || s.Strikes != tc.strikes || s.Startups != tc.startups || tc.p.Forgettable(s, t0) != tc.forgotten {
			t.Errorf("%s: End = owes %v active %v strikes %d startups %d forgettable %v; want %v %v %d %d %v", tc.name,
				owes, s.Active, s.Strikes, s.Startups, tc.p.Forgettable(s, t0), tc.owes, tc.active, tc.strikes, tc.startups, tc.forgotten)
		}
	}
}

// TestSourcePolicyFlood plays a half-open flood from one address against the policy with an
// injected clock: after a few connections the source is refused, for longer each time.
func TestSourcePolicyFlood(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	var s SourceState
	var v SourceVerdict
	var refusedFor []time.Duration
	for i := 0; i < 200; i++ {
		s, v = testPolicy.Admit(s, now)
		if v == SourceRefusePenalty {
			if len(refusedFor) == 0 || s.Until.Sub(now) != refusedFor[len(refusedFor)-1] {
				refusedFor = append(refusedFor, s.Until.Sub(now))
			}
			now = s.Until // the attacker waits the penalty out
			continue
		}
		s = testPolicy.End(s, SourceGraceExceeded, now.Add(30*time.Second))
		now = now.Add(30 * time.Second)
	}
	if len(refusedFor) < 5 || refusedFor[0] != 20*time.Second || refusedFor[len(refusedFor)-1] != 600*time.Second {
		t.Fatalf("penalties over the flood: %v", refusedFor)
	}
	for i := 1; i < len(refusedFor); i++ {
		if refusedFor[i] < refusedFor[i-1] {
			t.Fatalf("penalty shrank: %v", refusedFor)
		}
	}
}

func TestSourceKey(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.2"), Port: 5}, "127.0.0.2"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:10.1.2.3"), Port: 5}, "10.1.2.3"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 5}, "2001:db8:1:2::"},
	} {
		got, ok := SourceKey(tc.addr)
		if !ok || got.String() != tc.want {
			t.Errorf("SourceKey(%v) = %v, want %s", tc.addr, got, tc.want)
		}
	}
	if _, ok := SourceKey(&net.UnixAddr{Name: "x"}); ok {
		t.Error("a unix address has a source")
	}
}

func TestSourcePolicyOf(t *testing.T) {
	c := config.Default()
	c.PerSourcePenaltyExemptList = []string{"10.0.0.0/8", "192.0.2.7"}
	for ip, exempt := range map[string]bool{"10.9.9.9": true, "192.0.2.7": true, "192.0.2.8": false, "127.0.0.1": false} {
		if p := SourcePolicyOf(&c, netip.MustParseAddr(ip)); p.Exempt != exempt || p.MaxStartups != 10 || p.Min != 15*time.Second {
			t.Errorf("SourcePolicyOf(%s) = %+v", ip, p)
		}
	}
}

func TestAcceptBackoff(t *testing.T) {
	var d time.Duration
	var got []time.Duration
	for i := 0; i < 10; i++ {
		d = AcceptBackoff(d)
		got = append(got, d)
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("AcceptBackoff sequence %v", got)
		}
	}
}
