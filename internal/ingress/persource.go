package ingress

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/store"
)

// SourceEvent is how a source's unauthenticated connection ended.
type SourceEvent int

const (
	SourceAuthOK        SourceEvent = iota // authenticated: the source's run of failures is forgiven
	SourceAuthFail                         // ended after at least one refused authentication attempt
	SourceNoAuth                           // ended without any attempt (a scanner, a dropped client)
	SourceGraceExceeded                    // held open until loginGraceTime
	// SourceUnavailable: refused only because the bastion could not check (its store did not
	// answer). The source did nothing wrong: no strike, and none forgiven.
	SourceUnavailable
)

// SourceVerdict is the decision on a new connection from a source.
type SourceVerdict int

const (
	SourceAdmit          SourceVerdict = iota
	SourceRefuseStartups               // the source holds perSourceMaxStartups unauthenticated connections
	SourceRefusePenalty                // the source is penalized for connections that failed
)

// SourcePolicy is the per-source rule, as sshd's PerSourceMaxStartups and PerSourcePenalties.
// It is pure: the state and the clock are passed in, so it is tested as a table.
//
// Each connection that ends unauthenticated adds its penalty (AuthFail, NoAuth or Grace) to
// what the source owes, doubled for each such connection in a row (capped at Max). Once the
// source owes at least Min, it is refused until the debt has run out: a source that keeps
// failing is refused for longer each time, 15 s, 20 s, 40 s … up to Max. A success forgives the
// run, and so does a quiet Max after the last failure or penalty. A person mistyping once owes 5 s and is
// never refused; a flood from one address is refused after a few connections.
type SourcePolicy struct {
	MaxStartups int  // unauthenticated connections one source may hold; 0: no limit
	Penalties   bool // false: no penalties at all
	Exempt      bool // this source is exempt from penalties (perSourcePenaltyExemptList)
	AuthFail    time.Duration
	NoAuth      time.Duration
	Grace       time.Duration
	Min, Max    time.Duration
}

// SourceState is what is known of one source.
type SourceState struct {
	Startups int       // unauthenticated connections open now
	Until    time.Time // what the source owes runs out then
	Active   bool      // the penalty is in force (reached Min) until Until
	Strikes  int       // connections in a row that ended unauthenticated
	Last     time.Time // the last of them
}

// Admit decides on a new connection from the source at now; when admitted, the connection is
// counted among the source's startups.
func (p SourcePolicy) Admit(s SourceState, now time.Time) (SourceState, SourceVerdict) {
	if s.Active && !now.Before(s.Until) {
		s.Active = false
	}
	if p.Penalties && !p.Exempt && s.Active {
		return s, SourceRefusePenalty
	}
	if p.MaxStartups > 0 && s.Startups >= p.MaxStartups {
		return s, SourceRefuseStartups
	}
	s.Startups++
	return s, SourceAdmit
}

// End records how an admitted connection's unauthenticated phase ended.
func (p SourcePolicy) End(s SourceState, ev SourceEvent, now time.Time) SourceState {
	if s.Startups > 0 {
		s.Startups--
	}
	if ev == SourceAuthOK {
		s.Strikes = 0
		return s
	}
	if ev == SourceUnavailable {
		return s
	}
	if !p.Penalties || p.Exempt {
		return s
	}
	var d time.Duration
	switch ev {
	case SourceAuthFail:
		d = p.AuthFail
	case SourceNoAuth:
		d = p.NoAuth
	case SourceGraceExceeded:
		d = p.Grace
	default:
		d = p.AuthFail // an unknown outcome counts as a failure (fail closed)
	}
	if s.Strikes > 0 && s.quiet(now) > p.Max {
		s.Strikes = 0 // a quiet Max forgives the run
	}
	for i := 0; i < s.Strikes && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	s.Strikes++
	s.Last = now
	base := now
	if s.Until.After(now) {
		base = s.Until
	}
	s.Until = base.Add(d)
	if s.Until.After(now.Add(p.Max)) {
		s.Until = now.Add(p.Max)
	}
	if d > 0 && s.Until.Sub(now) >= p.Min {
		s.Active = true
	}
	return s
}

// Forgettable reports whether the state holds nothing worth keeping at now.
func (p SourcePolicy) Forgettable(s SourceState, now time.Time) bool {
	return s.Startups == 0 && !s.Until.After(now) && (s.Strikes == 0 || s.quiet(now) > p.Max)
}

// quiet is how long the source has been free to connect without failing: since its last
// failure or the end of its penalty, whichever is later (waiting a penalty out is not quiet).
func (s SourceState) quiet(now time.Time) time.Duration {
	since := s.Last
	if s.Until.After(since) {
		since = s.Until
	}
	return now.Sub(since)
}

// SourcePolicyOf is the configured policy for a source address.
func SourcePolicyOf(c *config.Config, ip netip.Addr) SourcePolicy {
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	p := SourcePolicy{MaxStartups: c.PerSourceMaxStartups, Penalties: c.PerSourcePenalties,
		AuthFail: sec(c.PerSourcePenaltyAuthFail), NoAuth: sec(c.PerSourcePenaltyNoAuth), Grace: sec(c.PerSourcePenaltyGraceExceeded),
		Min: sec(c.PerSourcePenaltyMin), Max: sec(c.PerSourcePenaltyMax)}
	for _, e := range c.PerSourcePenaltyExemptList {
		if pf, err := netip.ParsePrefix(e); err == nil && pf.Contains(ip) {
			p.Exempt = true
		} else if a, err := netip.ParseAddr(e); err == nil && a.Unmap() == ip {
			p.Exempt = true
		}
	}
	return p
}

// SourceKey is the source a connection is counted under: its IPv4 address, or its IPv6 /64
// (one client usually holds a whole /64).
func SourceKey(addr net.Addr) (netip.Addr, bool) {
	var ip netip.Addr
	if tcp, ok := addr.(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(tcp.IP)
	} else if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		ip = ap.Addr()
	}
	ip = ip.Unmap()
	if !ip.IsValid() {
		return netip.Addr{}, false
	}
	if ip.Is6() {
		pf, _ := ip.Prefix(64)
		return pf.Addr(), true
	}
	return ip, true
}

// sources holds the per-source states; the decisions are SourcePolicy's.
type sources struct {
	mu     sync.Mutex
	m      map[netip.Addr]SourceState
	counts atomic.Uint64 // shared-state writes, to sweep the store's old states now and then
}

// admitSource applies the policy to a new connection from addr. When admitted, end must be called
// once with how its unauthenticated phase ended. A source the table has no room for (more than
// perSourceMaxSources at once) is admitted without per-source limits: the global maxStartups
// still applies.
//
// With SharedPenalties (a cluster on PostgreSQL), the penalty part of the state (what the source
// owes, its strikes) is shared by the nodes through the store (store.SourcePenalties): read before
// the decision, and counted in the store when a connection ends unauthenticated, so a source
// failing on node A is refused by node B. A single node keeps it in memory only: a read per
// connection on SQLite would cost a login storm seconds for nothing shared.
// The count of unauthenticated connections stays per node. When the store does not answer, the
// node decides on what it knows itself (the login then needs the store anyway).
func (s *Server) admitSource(addr net.Addr) (SourceVerdict, func(SourceEvent)) {
	noop := func(SourceEvent) {}
	ip, ok := SourceKey(addr)
	if !ok {
		return SourceAdmit, noop
	}
	cfg := s.cfg()
	p := SourcePolicyOf(cfg, ip)
	src := &s.sources
	src.mu.Lock()
	local := src.m[ip]
	src.mu.Unlock()
	var shared store.SourcePenalty
	var sharedOK bool
	if !(local.Active && s.now().Before(local.Until)) { // refused here anyway: no store round trip
		shared, sharedOK = s.sharedPenalty(ip, p) // outside the lock
	}
	now := s.now()
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.m == nil {
		src.m = map[netip.Addr]SourceState{}
	}
	st, known := src.m[ip]
	if !known && len(src.m) >= cfg.PerSourceMaxSources {
		for k, v := range src.m {
			if SourcePolicyOf(cfg, k).Forgettable(v, now) {
				delete(src.m, k)
			}
		}
		if len(src.m) >= cfg.PerSourceMaxSources {
			return SourceAdmit, noop
		}
	}
	if sharedOK {
		st = MergePenalty(st, shared)
	}
	st, v := p.Admit(st, now)
	src.m[ip] = st
	if v != SourceAdmit {
		return v, noop
	}
	var once sync.Once
	return v, func(ev SourceEvent) {
		once.Do(func() {
			cfg := s.cfg()
			p := SourcePolicyOf(cfg, ip)
			shared, sharedOK := s.countShared(ip, p, ev, sharedOK && shared.Strikes > 0)
			now := s.now()
			src.mu.Lock()
			defer src.mu.Unlock()
			prev := src.m[ip]
			st := p.End(prev, ev, now)
			if sharedOK {
				st = MergePenalty(st, shared)
				if ev == SourceAuthOK { // the store forgave the run: so does the node
					st.Strikes = shared.Strikes
				}
			}
			if st.Active && !prev.Active {
				s.log.Warn("source penalized for connections that failed to authenticate",
					"source", ip.String(), "until", st.Until.UTC().Format(time.RFC3339), "strikes", st.Strikes)
			}
			if p.Forgettable(st, now) {
				delete(src.m, ip)
			} else {
				src.m[ip] = st
			}
		})
	}
}

// MergePenalty is the node's state st with the shared one p: the stricter of the two for each
// part (the later end of the debt, a penalty in force in either, the more strikes, the later
// failure), so that a store that missed a write never makes the node more lenient than what it
// saw itself. The startups stay the node's. Pure, tested as a table.
func MergePenalty(st SourceState, p store.SourcePenalty) SourceState {
	if p.Until.After(st.Until) {
		st.Until = p.Until
	}
	st.Active = st.Active || p.Active
	st.Strikes = max(st.Strikes, p.Strikes)
	if p.Last.After(st.Last) {
		st.Last = p.Last
	}
	return st
}

// withPenalty is st with the penalty part of the shared state (the startups stay the node's).
func withPenalty(st SourceState, p store.SourcePenalty) SourceState {
	st.Until, st.Active, st.Strikes, st.Last = p.Until, p.Active, p.Strikes, p.Last
	return st
}

func penaltyOf(st SourceState) store.SourcePenalty {
	return store.SourcePenalty{Until: st.Until, Active: st.Active, Strikes: st.Strikes, Last: st.Last}
}

// sourceStoreTimeout bounds a shared-penalty round trip: a slow store delays a connection's
// start by at most this much, and the node then decides alone.
const sourceStoreTimeout = 2 * time.Second

// sharedPenalty reads the source's shared penalty state, when penalties apply to it.
func (s *Server) sharedPenalty(ip netip.Addr, p SourcePolicy) (store.SourcePenalty, bool) {
	if !s.SharedPenalties || !p.Penalties || p.Exempt || s.env == nil {
		return store.SourcePenalty{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), sourceStoreTimeout)
	defer cancel()
	sp, err := s.env.Deps().Store.SourcePenalty(ctx, ip.String())
	if err != nil {
		s.log.Debug("per-source penalty: store read", "source", ip.String(), "err", err)
		return sp, false
	}
	return sp, true
}

// countShared counts how a connection ended in the source's shared state, atomically in the
// store, and returns the new state. A success writes only when there were strikes to forgive.
func (s *Server) countShared(ip netip.Addr, p SourcePolicy, ev SourceEvent, hadStrikes bool) (store.SourcePenalty, bool) {
	if !s.SharedPenalties || !p.Penalties || p.Exempt || s.env == nil || ev == SourceUnavailable || (ev == SourceAuthOK && !hadStrikes) {
		return store.SourcePenalty{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), sourceStoreTimeout)
	defer cancel()
	var out store.SourcePenalty
	err := s.env.Deps().Store.UpdateSourcePenalty(ctx, ip.String(), func(sp *store.SourcePenalty) bool {
		now := s.now()
		st := p.End(withPenalty(SourceState{}, *sp), ev, now)
		out = penaltyOf(st)
		*sp = out
		return !p.Forgettable(st, now)
	})
	if err != nil {
		s.log.Debug("per-source penalty: store update", "source", ip.String(), "err", err)
		return out, false
	}
	// Sources that stopped failing are forgotten when they next end a connection; those that
	// never come back are swept every 256 writes (past perSourcePenaltyMax, nothing is owed).
	if s.sources.counts.Add(1)%256 == 0 {
		if _, err := s.env.Deps().Store.ForgetSourcePenalties(ctx, s.now().Add(-p.Max)); err != nil {
			s.log.Debug("per-source penalty: sweep", "err", err)
		}
	}
	return out, true
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
