package keysync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/sshkey"
	"gatehouse/internal/store"
)

// Store is what a sync reads and changes (the sqlite store has it all).
type Store interface {
	ListAccounts(ctx context.Context) ([]store.Account, error)
	ListIngressKeys(ctx context.Context, account string) ([]store.IngressKey, error)
	AddIngressKey(ctx context.Context, k store.IngressKey) (store.IngressKey, error)
	DeleteIngressKey(ctx context.Context, account, fingerprint string) error
	ListGroups(ctx context.Context) ([]store.Group, error)
	SetRole(ctx context.Context, group, role, account string, on bool) (bool, error)
	SyncedAccounts(ctx context.Context) ([]store.SyncedAccount, error)
	CreateSyncedAccount(ctx context.Context, source string, a store.Account, keys []store.IngressKey) error
	SyncFreeze(ctx context.Context, account, source string, freeze bool, reason string) (store.Account, error)
	SyncManages(ctx context.Context, account, source string) (bool, error)
}

// Metrics count runs, changes and failures per source.
type Metrics struct {
	Runs     *prometheus.CounterVec
	Changes  *prometheus.CounterVec
	Failures *prometheus.CounterVec
}

// NewMetrics registers the sync counters on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_sync_runs_total",
			Help: "Key sync runs per source, by result: ok, refused (unreachable, empty, too many freezes) or failed (a change could not be made)."}, []string{"source", "result"}),
		Changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_sync_changes_total",
			Help: "Changes made by the key sync per source and kind (create_account, add_key, remove_key, freeze, unfreeze, add_to_group)."}, []string{"source", "kind"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_sync_failures_total",
			Help: "Key sync runs per source that could not read the source or make a change."}, []string{"source"}),
	}
	reg.MustRegister(m.Runs, m.Changes, m.Failures)
	return m
}

// Syncer runs the [sync] sources against the store.
type Syncer struct {
	Store  Store
	Config func() *config.Config
	Now    func() time.Time
	Log    *slog.Logger
	// AppendAudit appends one event to the audit log. A change is audited before it is made; an
	// append error stops the run there (nothing unaudited happens).
	AppendAudit audit.AppendFunc
	// Alert tells the administrators that a run was refused or failed (optional).
	Alert func(source, detail string)
	// AccountCreated finishes a new account (its egress key), optional.
	AccountCreated func(ctx context.Context, name string) error
	// Frozen ends the running sessions of an account the sync froze (optional).
	Frozen func(ctx context.Context, a store.Account, reason string)
	// NewSource builds a source (default NewSource; tests inject theirs).
	NewSource func(config.SyncSource) (Source, error)
	Metrics   *Metrics
	// Trigger asks Run for a run now (optional; gatehouse serve sends on SIGUSR1).
	Trigger chan struct{}

	mu sync.Mutex // one run at a time: two would plan against the same state
}

// Result is what one run did with one source.
type Result struct {
	Plan    Plan
	Applied []Change
	// Err is set when the source failed or a change could not be made.
	Err error
}

// Options of one run.
type Options struct {
	DryRun bool // plan and report, change nothing, audit nothing
	Force  bool // lift the maxRemoveShare check (not the others)
}

// RunOnce runs every configured source once, in order.
func (s *Syncer) RunOnce(ctx context.Context, o Options) []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := s.Config()
	var out []Result
	for _, src := range cfg.Sync.Sources {
		out = append(out, s.runSource(ctx, cfg, src, o))
	}
	return out
}

// Run runs every source at once, then each interval (read from the configuration in force, so
// a reload applies), until ctx ends. after is the clock (time.After when nil).
func (s *Syncer) Run(ctx context.Context, after func(time.Duration) <-chan time.Time) {
	if after == nil {
		after = time.After
	}
	for {
		if len(s.Config().Sync.Sources) > 0 {
			s.RunOnce(ctx, Options{})
		}
		select {
		case <-ctx.Done():
			return
		case <-after(s.Config().Sync.IntervalDuration()):
		case <-s.Trigger:
		}
	}
}

func (s *Syncer) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

func (s *Syncer) runSource(ctx context.Context, cfg *config.Config, sc config.SyncSource, o Options) Result {
	newSource := s.NewSource
	if newSource == nil {
		newSource = NewSource
	}
	in := Input{Source: sc.Name, MaxRemoveShare: cfg.Sync.MaxRemoveShare, Force: o.Force}
	src, err := newSource(sc)
	if err == nil {
		fctx, cancel := context.WithTimeout(ctx, sc.TimeoutDuration())
		in.Desired, err = src.Fetch(fctx)
		cancel()
		if c, ok := src.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections() // a new source is built each run (a reload applies)
		}
	}
	in.FetchErr = err
	if err == nil {
		in.Desired = ApplyPolicy(in.Desired, common.IngressPolicy(cfg))
	}
	if ctx.Err() != nil {
		return Result{Plan: Plan{Source: sc.Name, Verdict: RefusedFetch, Reason: "stopped"}, Err: ctx.Err()} // shutting down: not the source's fault
	}
	if err := s.loadState(ctx, &in); err != nil {
		// Without the store's state nothing can be decided: the same as an unreachable source.
		in.FetchErr = fmt.Errorf("store: %w", err)
	}
	p := Reconcile(in)
	res := Result{Plan: p}
	if o.DryRun {
		return res
	}
	for _, sk := range p.Skipped {
		s.log().Warn("sync: left alone", "source", sc.Name, "detail", sk)
	}
	if p.Refused() {
		res.Err = errors.New(p.Reason)
		s.log().Error("sync refused: nothing changed", "source", sc.Name, "verdict", p.Verdict, "reason", p.Reason)
		s.count(sc.Name, "refused", p.Verdict == RefusedFetch)
		aerr := s.audit(ctx, "sync.refused", audit.Fields{Result: string(p.Verdict), Comment: p.Reason, Extra: map[string]string{"source": sc.Name}})
		if aerr != nil {
			s.log().Error("sync refusal not audited", "source", sc.Name, "err", aerr)
		}
		if s.Alert != nil {
			s.Alert(sc.Name, p.Reason)
		}
		return res
	}
	for _, c := range p.Changes {
		if err := s.apply(ctx, sc.Name, c); err != nil {
			res.Err = fmt.Errorf("%s %s: %w", c.Kind, c.Account, err)
			break
		}
		res.Applied = append(res.Applied, c)
		if s.Metrics != nil {
			s.Metrics.Changes.WithLabelValues(sc.Name, string(c.Kind)).Inc()
		}
	}
	if res.Err != nil {
		// Fail closed: stop at the first change that could not be made (or audited); the next run
		// plans again from what the store then holds.
		s.log().Error("sync failed: stopped", "source", sc.Name, "applied", len(res.Applied), "err", res.Err)
		s.count(sc.Name, "failed", true)
		// After the fact (nothing more to refuse): the log counts a failure and alerts.
		_ = s.audit(ctx, "sync.failed", audit.Fields{Result: "failed", Comment: res.Err.Error(), Extra: map[string]string{"source": sc.Name}})
		if s.Alert != nil {
			s.Alert(sc.Name, fmt.Sprintf("stopped after %d change(s): %v", len(res.Applied), res.Err))
		}
		return res
	}
	s.count(sc.Name, "ok", false)
	if len(res.Applied) > 0 {
		s.log().Info("sync applied", "source", sc.Name, "changes", len(res.Applied))
	}
	return res
}

func (s *Syncer) count(source, result string, failure bool) {
	if s.Metrics == nil {
		return
	}
	s.Metrics.Runs.WithLabelValues(source, result).Inc()
	if failure {
		s.Metrics.Failures.WithLabelValues(source).Inc()
	}
}

func (s *Syncer) audit(ctx context.Context, typ string, f audit.Fields) error {
	if s.AppendAudit == nil {
		return errors.New("no audit log")
	}
	return s.AppendAudit(ctx, audit.Event{Type: typ, Fields: f})
}

// loadState fills in.Managed, in.Unmanaged and in.Groups from the store.
func (s *Syncer) loadState(ctx context.Context, in *Input) error {
	accounts, err := s.Store.ListAccounts(ctx)
	if err != nil {
		return err
	}
	synced, err := s.Store.SyncedAccounts(ctx)
	if err != nil {
		return err
	}
	groups, err := s.Store.ListGroups(ctx)
	if err != nil {
		return err
	}
	bySync := map[string]store.SyncedAccount{}
	for _, m := range synced {
		if m.Source == in.Source {
			bySync[m.Account] = m
		}
	}
	memberOf := map[string][]string{}
	in.Groups = map[string]bool{}
	for _, g := range groups {
		in.Groups[g.Name] = true
		for _, a := range g.Roles[store.RoleMember] {
			memberOf[a] = append(memberOf[a], g.Name)
		}
	}
	in.Managed, in.Unmanaged = map[string]Current{}, map[string]bool{}
	for _, a := range accounts {
		m, ok := bySync[a.Name]
		if !ok {
			in.Unmanaged[a.Name] = true
			continue
		}
		keys, err := s.Store.ListIngressKeys(ctx, a.Name)
		if err != nil {
			return err
		}
		cur := Current{Frozen: a.Frozen, FrozenBySync: m.FrozenBySync, Groups: memberOf[a.Name]}
		for _, k := range keys {
			cur.Keys = append(cur.Keys, Key{Fingerprint: k.Fingerprint, Line: k.Line})
		}
		in.Managed[a.Name] = cur
	}
	return nil
}

// FreezeReason is the reason the sync gives a freeze (shown by accountInfo).
func FreezeReason(source string) string {
	return "no key left in sync source " + source
}

// apply audits one change, then makes it.
func (s *Syncer) apply(ctx context.Context, source string, c Change) error {
	f := audit.Fields{Account: c.Account, Result: "ok", Extra: map[string]string{"source": source, "object": c.Object, "version": c.Version}}
	switch c.Kind {
	case AddKey, RemoveKey:
		f.Extra["fingerprint"] = c.Key.Fingerprint
	case CreateAccount:
		fps := make([]string, 0, len(c.Keys))
		for _, k := range c.Keys {
			fps = append(fps, k.Fingerprint)
		}
		f.Extra["fingerprints"] = strings.Join(fps, ",")
	case AddToGroup:
		f.Extra["group"] = c.Group
	}
	if err := s.audit(ctx, "sync."+string(c.Kind), f); err != nil {
		return fmt.Errorf("audit log: %w (the change was not made)", err)
	}
	now := s.Now().UTC()
	if c.Kind != CreateAccount {
		// An account deleted (and perhaps recreated by hand) since the plan is not ours any more.
		ok, err := s.Store.SyncManages(ctx, c.Account, source)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("account %s is no longer managed by source %s", c.Account, source)
		}
	}
	switch c.Kind {
	case CreateAccount:
		a := store.Account{Name: c.Account, CreatedAt: now, CreatedBy: "sync:" + source, MaxInactiveDays: -1,
			Comment: "managed by sync source " + source}
		keys := make([]store.IngressKey, 0, len(c.Keys))
		for _, k := range c.Keys {
			keys = append(keys, ingress(c.Account, k, now))
		}
		if err := s.Store.CreateSyncedAccount(ctx, source, a, keys); err != nil {
			return err
		}
		if s.AccountCreated != nil {
			if err := s.AccountCreated(ctx, c.Account); err != nil {
				// The account works without an egress key; say so rather than stop.
				s.log().Warn("synced account has no egress key yet", "account", c.Account, "err", err)
			}
		}
	case AddKey:
		k, err := sshkey.Parse(c.Key.Line)
		if err != nil {
			return err
		}
		if _, err := s.Store.AddIngressKey(ctx, ingress(c.Account, k, now)); err != nil {
			return err
		}
	case RemoveKey:
		if err := s.Store.DeleteIngressKey(ctx, c.Account, c.Key.Fingerprint); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	case Freeze:
		reason := FreezeReason(source)
		before, err := s.Store.SyncFreeze(ctx, c.Account, source, true, reason)
		if err != nil {
			return err
		}
		if !before.Frozen && s.Frozen != nil {
			s.Frozen(ctx, before, reason)
		}
	case Unfreeze:
		if _, err := s.Store.SyncFreeze(ctx, c.Account, source, false, ""); err != nil {
			return err
		}
	case AddToGroup:
		if _, err := s.Store.SetRole(ctx, c.Group, store.RoleMember, c.Account, true); err != nil {
			return err
		}
	}
	return nil
}

func ingress(account string, k sshkey.Key, now time.Time) store.IngressKey {
	return store.IngressKey{Account: account, Line: k.Line, Type: k.Type, Fingerprint: k.Fingerprint, Comment: k.Comment, From: k.From, CreatedAt: now}
}
