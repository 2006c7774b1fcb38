package mfa

import (
	"context"

	"gatehouse/internal/mfa/policy"
)

// EventKind is what happened to one factor.
type EventKind string

const (
	EventPrompt  EventKind = "prompt"  // a factor is being asked
	EventPass    EventKind = "pass"    // the answer was right
	EventFail    EventKind = "fail"    // the answer was wrong (Reason says how); another round may follow
	EventRefused EventKind = "refused" // the challenge ends without access (rate limit, lockout, error…)
)

// Event is one step of a challenge, for the audit log. It never carries an answer or a secret.
type Event struct {
	Account string
	Factor  policy.Factor
	Kind    EventKind
	Try     int    // round number, from 1 (0 when refused before any round)
	Reason  string // e.g. "wrong code", "code already used", "scratch code", "rate-limited"
}

// Observer receives challenge events. MFAEvent must not block for long: it runs inline.
type Observer interface {
	MFAEvent(ctx context.Context, e Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ctx context.Context, e Event)

// MFAEvent implements Observer.
func (f ObserverFunc) MFAEvent(ctx context.Context, e Event) { f(ctx, e) }

// CheckedObserver is an Observer that says whether it recorded an event (the audit log). A pass
// it could not record is refused: what cannot be audited does not let anyone in.
type CheckedObserver interface {
	Observer
	MFAEventChecked(ctx context.Context, e Event) error
}

// CheckedObserverFunc adapts a function to CheckedObserver.
type CheckedObserverFunc func(ctx context.Context, e Event) error

// MFAEvent implements Observer (the error is only for the events that fail closed).
func (f CheckedObserverFunc) MFAEvent(ctx context.Context, e Event) { _ = f(ctx, e) }

// MFAEventChecked implements CheckedObserver.
func (f CheckedObserverFunc) MFAEventChecked(ctx context.Context, e Event) error { return f(ctx, e) }
