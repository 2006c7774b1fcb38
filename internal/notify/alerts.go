package notify

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// AlertKind names an event administrators can choose to be told about.
type AlertKind string

const (
	AlertAdminLogin     AlertKind = "admin_login"
	AlertMFAFailures    AlertKind = "mfa_failures" // failures over a threshold (see FailureCounter)
	AlertAccessRefused  AlertKind = "access_refused"
	AlertHostKeyChanged AlertKind = "host_key_changed"
	AlertAccountCreated AlertKind = "account_created"
	AlertGrantGiven     AlertKind = "grant_given"
	AlertAuditLog       AlertKind = "audit_log" // the audit log fails (sessions refused), or recovers
	// A key sync source was unreachable, empty, or would freeze too many accounts.
	AlertSyncRefused AlertKind = "sync_refused"
)

// Title is the human name of the alert.
func (k AlertKind) Title() string {
	switch k {
	case AlertAdminLogin:
		return "admin login"
	case AlertMFAFailures:
		return "repeated MFA failures"
	case AlertAccessRefused:
		return "access refused"
	case AlertHostKeyChanged:
		return "target host key changed"
	case AlertAccountCreated:
		return "account created"
	case AlertGrantGiven:
		return "access granted"
	case AlertAuditLog:
		return "audit log"
	case AlertSyncRefused:
		return "key sync refused"
	}
	return clean(string(k), 64)
}

// Alert is one event to report.
type Alert struct {
	Kind AlertKind
	Request
	Detail string
	At     time.Time // default: when Alert is called
}

// AlerterConfig configures the alert queue.
type AlerterConfig struct {
	Channels    []Sender
	Kinds       []AlertKind   // kinds to send; empty: all
	QueueSize   int           // per channel; default 256
	SendTimeout time.Duration // per alert and channel; default 5 s
	Bastion     string
	Logger      *slog.Logger
	// Coalesce holds back repeats: within this window after an alert, the same alert (kind,
	// account, source, target, command and detail) is counted, not sent; the next one sent after the window
	// says how many were held back. 0: every alert is sent. The audit log's alerts are never
	// held back (each failure and recovery matters).
	Coalesce time.Duration
	// Now is the clock (nil: time.Now); tests inject one.
	Now func() time.Time
}

// AlertStats counts what happened to alerts, summed over channels (an
// alert sent to two channels counts twice).
type AlertStats struct {
	Enqueued uint64 // accepted into a channel's queue
	Sent     uint64 // delivered
	Failed   uint64 // sent but not delivered (channel down, refused, timeout)
	Dropped  uint64 // not sent: queue full, or still queued at shutdown
	Filtered uint64 // alerts of a kind not configured (counted once per alert)
	Held     uint64 // repeats held back by Coalesce (counted once per alert)
	Channels map[string]ChannelAlertStats
}

// ChannelAlertStats are the counters of one channel.
type ChannelAlertStats struct {
	Enqueued, Sent, Failed, Dropped uint64
	Queued                          int // waiting now
}

type alertQueue struct {
	sender                          Sender
	ch                              chan *Message
	enqueued, sent, failed, dropped atomic.Uint64
}

// Alerter queues alerts and sends them in the background. Alert never
// blocks; Run serves the queues until its context ends.
type Alerter struct {
	cfg      AlerterConfig
	log      *slog.Logger
	kinds    map[AlertKind]bool
	queues   []*alertQueue
	filtered atomic.Uint64
	held     atomic.Uint64
	coalesce *Coalescer

	mu      sync.Mutex // orders Alert against shutdown
	stopped bool
}

// NewAlerter builds the queues; call Run to start sending.
func NewAlerter(cfg AlerterConfig) *Alerter {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &Alerter{cfg: cfg, log: cfg.Logger, coalesce: &Coalescer{Window: cfg.Coalesce}}
	if a.log == nil {
		a.log = slog.Default()
	}
	if len(cfg.Kinds) > 0 {
		a.kinds = make(map[AlertKind]bool)
		for _, k := range cfg.Kinds {
			a.kinds[k] = true
		}
	}
	for _, s := range cfg.Channels {
		if s != nil {
			a.queues = append(a.queues, &alertQueue{sender: s, ch: make(chan *Message, cfg.QueueSize)})
		}
	}
	return a
}

// Alert queues al on every channel without blocking. It reports whether at
// least one channel took it; a full queue or a stopped Alerter drops and
// counts.
func (a *Alerter) Alert(al Alert) bool {
	if a.kinds != nil && !a.kinds[al.Kind] {
		a.filtered.Add(1)
		return false
	}
	at := al.At
	if at.IsZero() {
		at = a.cfg.Now()
	}
	detail := al.Detail
	if al.Kind != AlertAuditLog {
		// Only the same alert is held back: the source is part of the key (a login of the same
		// account from another address, a stolen key, is never held back behind the owner's),
		// and so is the detail (a sync refused for another reason is news).
		key := strings.Join([]string{string(al.Kind), al.Account, al.SourceIP, al.Target, al.Command, al.Detail}, "\x00")
		send, held := a.coalesce.Admit(key, a.cfg.Now())
		if !send {
			a.held.Add(1)
			return false
		}
		if held > 0 {
			detail = strings.TrimSpace(detail + fmt.Sprintf(" (%d more like it in the %s before were not sent)", held, a.cfg.Coalesce))
		}
	}
	m := &Message{Kind: KindAlert, Request: al.Request, Bastion: a.cfg.Bastion, When: at, Alert: al.Kind, Detail: detail}
	a.mu.Lock()
	defer a.mu.Unlock()
	queued := false
	for _, q := range a.queues {
		if a.stopped {
			q.dropped.Add(1)
			continue
		}
		select {
		case q.ch <- m:
			q.enqueued.Add(1)
			queued = true
		default:
			q.dropped.Add(1)
		}
	}
	return queued
}

// Run sends queued alerts, one worker per channel (a hanging channel only
// delays its own queue), until ctx ends. It then waits for the workers,
// counts what is left in the queues as dropped and returns; later alerts
// are dropped. Run must be called at most once.
func (a *Alerter) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, q := range a.queues {
		wg.Go(func() { a.work(ctx, q) })
	}
	<-ctx.Done()
	wg.Wait()
	a.mu.Lock()
	a.stopped = true
	a.mu.Unlock()
	for _, q := range a.queues {
		for len(q.ch) > 0 {
			<-q.ch
			q.dropped.Add(1)
		}
	}
}

func (a *Alerter) work(ctx context.Context, q *alertQueue) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-q.ch:
			sendCtx, cancel := context.WithTimeout(ctx, a.cfg.SendTimeout)
			err := q.sender.Send(sendCtx, m)
			cancel()
			if err != nil {
				q.failed.Add(1)
				a.log.Warn("alert not delivered", "channel", q.sender.Name(), "alert", string(m.Alert), "err", err)
				continue
			}
			q.sent.Add(1)
		}
	}
}

// Stats returns the counters (for metrics).
func (a *Alerter) Stats() AlertStats {
	s := AlertStats{Filtered: a.filtered.Load(), Held: a.held.Load(), Channels: make(map[string]ChannelAlertStats, len(a.queues))}
	for _, q := range a.queues {
		c := ChannelAlertStats{
			Enqueued: q.enqueued.Load(), Sent: q.sent.Load(), Failed: q.failed.Load(),
			Dropped: q.dropped.Load(), Queued: len(q.ch),
		}
		s.Enqueued += c.Enqueued
		s.Sent += c.Sent
		s.Failed += c.Failed
		s.Dropped += c.Dropped
		cs := s.Channels[q.sender.Name()]
		cs.Enqueued += c.Enqueued
		cs.Sent += c.Sent
		cs.Failed += c.Failed
		cs.Dropped += c.Dropped
		cs.Queued += c.Queued
		s.Channels[q.sender.Name()] = cs
	}
	return s
}

// FailureCounter tells when an account's MFA failures reach a threshold
// within a sliding window, so that AlertMFAFailures fires once per burst.
// It keeps at most Threshold timestamps per account.
type FailureCounter struct {
	Threshold int
	Window    time.Duration

	mu   sync.Mutex
	seen map[string][]time.Time
}

// Add records a failure at now and reports whether this failure makes the
// count within the window reach the threshold (exactly once per burst:
// further failures do not fire again until the count drops below it).
func (c *FailureCounter) Add(account string, now time.Time) (count int, fire bool) {
	if c.Threshold <= 0 {
		return 0, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = make(map[string][]time.Time)
	}
	if len(c.seen) >= 4096 { // bound memory: forget accounts with no recent failure
		for a, ts := range c.seen {
			if len(ts) == 0 || now.Sub(ts[len(ts)-1]) >= c.Window {
				delete(c.seen, a)
			}
		}
	}
	ts := c.seen[account]
	keep := ts[:0]
	for _, t := range ts {
		if now.Sub(t) < c.Window {
			keep = append(keep, t)
		}
	}
	before := len(keep)
	if len(keep) == c.Threshold { // bound memory: forget the oldest
		keep = append(keep[:0], keep[1:]...)
	}
	keep = append(keep, now)
	c.seen[account] = keep
	return len(keep), before < c.Threshold && len(keep) == c.Threshold
}

// Reset forgets an account's failures (after a success).
func (c *FailureCounter) Reset(account string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.seen, account)
}

// Coalescer holds back repeated alerts: the first of a key is sent, the same key within Window
// after it is held back and counted, and the first after the window is sent with that count.
// So one admin running 50 commands in 14 minutes (each an SSH login) makes 2 alerts, not 50.
// It keeps at most maxCoalesceKeys keys, forgetting those past their window first.
type Coalescer struct {
	Window time.Duration

	mu   sync.Mutex
	seen map[string]*coalesced
}

type coalesced struct {
	sent time.Time // when the last alert of the key was sent
	held int       // alerts held back since
}

const maxCoalesceKeys = 4096

// Admit says whether an alert of key at now is sent, and how many were held back before it.
func (c *Coalescer) Admit(key string, now time.Time) (send bool, held int) {
	if c == nil || c.Window <= 0 {
		return true, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = make(map[string]*coalesced)
	}
	if st, ok := c.seen[key]; ok && now.Sub(st.sent) < c.Window && !now.Before(st.sent) {
		st.held++
		return false, 0
	} else if ok {
		held = st.held
	}
	if len(c.seen) >= maxCoalesceKeys {
		for k, st := range c.seen {
			if now.Sub(st.sent) >= c.Window {
				delete(c.seen, k)
			}
		}
		if len(c.seen) >= maxCoalesceKeys {
			return true, held // full of live keys: send rather than lose an alert
		}
	}
	c.seen[key] = &coalesced{sent: now}
	return true, held
}
