package approval

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/notify"
)

// State of a request.
type State int

const (
	Pending State = iota + 1
	Approved
	Denied
	Expired
)

func (s State) String() string {
	switch s {
	case Pending:
		return "pending"
	case Approved:
		return "approved"
	case Denied:
		return "denied"
	case Expired:
		return "expired"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Action is what an approver asks for.
type Action int

const (
	Approve Action = iota + 1
	Deny
)

func (a Action) String() string {
	if a == Approve {
		return "approve"
	}
	if a == Deny {
		return "deny"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Approver is who took (or tried to take) a decision, as the audit log
// records it.
type Approver struct {
	Account  string // gatehouse account; "" when not identified (an unbound link)
	Via      string // "slack", "link"; for expiry: "timeout", "cancelled", "undelivered"
	ChatUser string // chat identity, e.g. Slack "T0123/U0456"; "" for links
}

// Record is one approval request.
type Record struct {
	ID string // 128-bit random, hex; carried by buttons and links
	notify.Request
	Bastion   string
	Label     string // public session label, shown in the prompt and the message
	Created   time.Time
	Expires   time.Time
	FourEyes  bool     // the requester may not approve
	Approvers []string // accounts allowed to decide; empty: any identified account

	State     State
	DecidedBy Approver
	DecidedAt time.Time
}

var (
	ErrNotFound     = errors.New("approval: no such request")
	ErrDuplicate    = errors.New("approval: request id already exists")
	ErrDecided      = errors.New("approval: request already decided")
	ErrExpired      = errors.New("approval: request expired; the user must log in again")
	ErrDenied       = errors.New("approval: request denied")
	ErrFourEyes     = errors.New("approval: the requester cannot approve their own request (four eyes)")
	ErrNotApprover  = errors.New("approval: this account is not an approver for this request")
	ErrUnidentified = errors.New("approval: approver not identified; use a link bound to an approver or a mapped chat user")
	ErrBadState     = errors.New("approval: invalid target state")
)

// check is the whole rule of who may decide, without I/O.
func check(rec Record, act Action, by Approver, now time.Time) error {
	switch rec.State {
	case Pending:
	case Expired:
		return ErrExpired
	default:
		return ErrDecided
	}
	if !now.Before(rec.Expires) {
		return ErrExpired
	}
	if act != Approve && act != Deny {
		return ErrBadState
	}
	if by.Account == "" {
		// Without an identity neither four eyes nor an approver list can be
		// enforced, so only an unrestricted request may be decided.
		if rec.FourEyes || len(rec.Approvers) > 0 {
			return ErrUnidentified
		}
		return nil
	}
	self := by.Account == rec.Account
	if act == Deny && self {
		return nil // withdrawing one's own request never grants anything
	}
	if act == Approve && self && rec.FourEyes {
		return ErrFourEyes
	}
	if len(rec.Approvers) > 0 && !slices.Contains(rec.Approvers, by.Account) {
		return ErrNotApprover
	}
	return nil
}

// Observer receives every outcome for the audit log (and metrics). Calls
// are synchronous and must not block for long.
type Observer interface {
	// Decided: the request reached its final state; rec.DecidedBy says who
	// (or why, for Expired). Called once per request.
	Decided(ctx context.Context, rec Record)
	// Refused: an attempt to decide was refused (four eyes, not an
	// approver, already decided, expired, unknown request).
	Refused(ctx context.Context, id string, act Action, by Approver, err error)
}

// Channel is where a request is posted.
type Channel struct {
	Sender notify.Sender
	// Approver, when set, binds the links in this channel's message to that
	// account (e.g. a personal ntfy topic). Otherwise links are unbound.
	Approver string
}

// Policy is what one request asks for; the lead picks it per group.
type Policy struct {
	Channels  []Channel
	Delivery  notify.Delivery // DeliverAll (default) or DeliverAny
	FourEyes  bool
	Approvers []string
	TTL       time.Duration // default 120 s
}

// Config configures a Manager.
type Config struct {
	Store Store       // default NewMemStore(Now)
	Links *LinkSigner // needed unless every channel is *notify.Slack
	// Console returns the web console's base URL ("" when off; nil: no console). A request that
	// must know who decides (four eyes, approvers) cannot be decided by a link bound to nobody:
	// such channels get the console's approvals page instead, where the approver's webLogin
	// session says who they are.
	Console     func() string
	Observer    Observer // may be nil
	Bastion     string
	SendTimeout time.Duration // bound on posting the request; default 10 s
	Poll        time.Duration // countdown tick and store re-read; default 1 s
	Now         func() time.Time
	Logger      *slog.Logger
}

// Manager starts requests, decides them and waits for them.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	wakers map[string]chan struct{}
}

// NewManager fills in defaults.
func NewManager(cfg Config) *Manager {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Store == nil {
		cfg.Store = NewMemStore(cfg.Now)
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = notify.DefaultSendTimeout
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Manager{cfg: cfg, log: log, wakers: map[string]chan struct{}{}}
}

// Start records a request and posts it to the policy's channels. If it is
// not delivered the request is expired at once and the error wraps
// notify.ErrUndelivered: the login must fail (or fall back).
func (m *Manager) Start(ctx context.Context, r notify.Request, p Policy) (Record, error) {
	if len(p.Channels) == 0 {
		return Record{}, fmt.Errorf("%w: the approval factor needs a channel", notify.ErrNoChannel)
	}
	for i, c := range p.Channels {
		if c.Sender == nil {
			return Record{}, fmt.Errorf("approval: channel %d has no sender", i)
		}
		if _, slack := c.Sender.(*notify.Slack); !slack && m.cfg.Links == nil {
			return Record{}, fmt.Errorf("approval: channel %q has no buttons; configure signed links (LinkSigner)", c.Sender.Name())
		}
	}
	if p.TTL <= 0 {
		p.TTL = notify.DefaultCodeTTL
	}
	var idb [16]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return Record{}, fmt.Errorf("approval: drawing a request id: %w", err)
	}
	label, err := notify.SessionLabel(rand.Reader)
	if err != nil {
		return Record{}, fmt.Errorf("approval: drawing a label: %w", err)
	}
	now := m.cfg.Now()
	rec := Record{
		ID: hex.EncodeToString(idb[:]), Request: r, Bastion: m.cfg.Bastion, Label: label,
		Created: now, Expires: now.Add(p.TTL), FourEyes: p.FourEyes, Approvers: slices.Clone(p.Approvers),
		State: Pending,
	}
	if err := m.cfg.Store.Create(ctx, rec); err != nil {
		return Record{}, fmt.Errorf("approval: storing the request: %w", err)
	}
	out := make([]notify.Outgoing, 0, len(p.Channels))
	for _, c := range p.Channels {
		msg := &notify.Message{
			Kind: notify.KindApproval, Request: r, Bastion: m.cfg.Bastion, Label: label,
			When: now, ExpiresAt: rec.Expires, RequestID: rec.ID,
		}
		if page := m.consolePage(c, rec); page != "" {
			msg.ApproveURL, msg.DenyURL = page, page
		} else if m.cfg.Links != nil {
			msg.ApproveURL = m.cfg.Links.URL(rec.ID, Approve, c.Approver, rec.Expires)
			msg.DenyURL = m.cfg.Links.URL(rec.ID, Deny, c.Approver, rec.Expires)
		}
		out = append(out, notify.Outgoing{Sender: c.Sender, Message: msg})
	}
	sendCtx, cancel := context.WithTimeout(ctx, min(m.cfg.SendTimeout, p.TTL))
	defer cancel()
	if err := notify.Deliver(sendCtx, m.log, p.Delivery, out); err != nil {
		m.expire(context.WithoutCancel(ctx), rec.ID, "undelivered")
		return Record{}, err
	}
	m.log.InfoContext(ctx, "approval requested", "request", rec.ID, "account", r.Account, "source_ip", r.SourceIP,
		"label", label, "channels", len(out), "expires_at", rec.Expires)
	return rec, nil
}

// consolePage is the console's approvals page for a link channel bound to nobody when rec
// must know who decides (LinkPage), or "".
func (m *Manager) consolePage(c Channel, rec Record) string {
	if m.cfg.Console == nil {
		return ""
	}
	_, slack := c.Sender.(*notify.Slack)
	return LinkPage(slack, c.Approver != "", rec.FourEyes || len(rec.Approvers) > 0, m.cfg.Console(), rec.Label)
}

// LinkPage decides, pure, where a channel's decision links lead: "" for the signed links (a
// Slack channel has buttons; a bound channel's links act as its approver; an unrestricted
// request may be decided by anyone holding the link), else the console's approvals page when
// the console is on (consoleBase), else "" (the signed links, which cannot decide: refused at
// start by the configuration check).
func LinkPage(slack, bound, restricted bool, consoleBase, label string) string {
	if slack || bound || !restricted || consoleBase == "" {
		return ""
	}
	return strings.TrimRight(consoleBase, "/") + "/approvals?session=" + label
}

// Get returns a request.
func (m *Manager) Get(ctx context.Context, id string) (Record, error) {
	return m.cfg.Store.Get(ctx, id)
}

// Decide applies an approver's action if check allows it, atomically, and
// wakes the waiter. Every refusal goes to the Observer.
func (m *Manager) Decide(ctx context.Context, id string, act Action, by Approver) (Record, error) {
	refuse := func(err error) (Record, error) {
		m.refused(ctx, id, act, by, err)
		return Record{}, err
	}
	rec, err := m.cfg.Store.Get(ctx, id)
	if err != nil {
		return refuse(err)
	}
	now := m.cfg.Now()
	if err := check(rec, act, by, now); err != nil {
		return refuse(err)
	}
	state := Approved
	if act == Deny {
		state = Denied
	}
	rec, err = m.cfg.Store.Finish(ctx, id, state, by, now)
	if err != nil {
		return refuse(err)
	}
	m.finished(ctx, rec)
	return rec, nil
}

// refused logs and reports an attempt to decide that did not.
func (m *Manager) refused(ctx context.Context, id string, act Action, by Approver, err error) {
	m.log.WarnContext(ctx, "approval decision refused", "request", id, "action", act.String(),
		"approver", by.Account, "via", by.Via, "chat_user", by.ChatUser, "err", err)
	if m.cfg.Observer != nil {
		m.cfg.Observer.Refused(ctx, id, act, by, err)
	}
}

// Wait blocks until the request is decided, expires, or ctx ends. tick, if
// not nil, is called about every poll interval (1 s by default) with the
// time left, for a countdown. It returns a nil error only when approved; if
// ctx ends first the request is expired so that a late approval cannot be
// used.
func (m *Manager) Wait(ctx context.Context, id string, tick func(remaining time.Duration)) (Record, error) {
	defer m.forgetWaker(id)
	for {
		// Register before reading, so a decision between the read and the
		// select still wakes us.
		wake := m.waker(id)
		rec, err := m.cfg.Store.Get(ctx, id)
		if err != nil {
			return rec, fmt.Errorf("approval: reading the request: %w", err)
		}
		switch rec.State {
		case Approved:
			return rec, nil
		case Denied:
			return rec, ErrDenied
		case Expired:
			return rec, ErrExpired
		}
		remaining := rec.Expires.Sub(m.cfg.Now())
		if remaining <= 0 {
			rec, ok := m.expire(ctx, id, "timeout")
			if ok || rec.State == Pending || rec.State == 0 { // expired, or the store failed: closed
				return rec, ErrExpired
			}
			continue // a decision won the race; read it
		}
		if tick != nil {
			tick(remaining)
		}
		t := time.NewTimer(min(m.cfg.Poll, remaining))
		select {
		case <-wake:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			// The user is gone: expire the request so a late click finds
			// nothing to approve.
			rec, _ := m.expire(context.WithoutCancel(ctx), id, "cancelled")
			return rec, fmt.Errorf("approval: stopped waiting: %w", ctx.Err())
		}
		t.Stop()
	}
}

// expire moves a pending request to Expired; ok is false when it had
// already left Pending (rec is then its current state).
func (m *Manager) expire(ctx context.Context, id, via string) (Record, bool) {
	rec, err := m.cfg.Store.Finish(ctx, id, Expired, Approver{Via: via}, m.cfg.Now())
	if err != nil {
		return rec, false
	}
	m.finished(ctx, rec)
	return rec, true
}

func (m *Manager) finished(ctx context.Context, rec Record) {
	m.log.InfoContext(ctx, "approval "+rec.State.String(), "request", rec.ID, "account", rec.Account,
		"label", rec.Label, "approver", rec.DecidedBy.Account, "via", rec.DecidedBy.Via, "chat_user", rec.DecidedBy.ChatUser)
	if m.cfg.Observer != nil {
		m.cfg.Observer.Decided(ctx, rec)
	}
	m.mu.Lock()
	if ch, ok := m.wakers[rec.ID]; ok {
		close(ch)
		delete(m.wakers, rec.ID)
	}
	m.mu.Unlock()
}

func (m *Manager) waker(id string) chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, ok := m.wakers[id]
	if !ok {
		ch = make(chan struct{})
		m.wakers[id] = ch
	}
	return ch
}

func (m *Manager) forgetWaker(id string) {
	m.mu.Lock()
	delete(m.wakers, id)
	m.mu.Unlock()
}
