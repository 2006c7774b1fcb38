package totp

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ErrInvalidCode is returned for a code that is malformed or matches no step of the window.
var ErrInvalidCode = errors.New("totp: invalid verification code")

// ErrReplayed is returned for a correct code whose step was already used (or is older than the
// last step used): the same code twice, or an older code after a newer one.
var ErrReplayed = errors.New("totp: verification code already used")

// StepStore remembers, per account, the last accepted TOTP time step (or HOTP counter).
//
// Implementations must make Advance an atomic compare-and-set, e.g. in SQL:
//
//	INSERT INTO totp_step(account, step) VALUES(?, ?)
//	ON CONFLICT(account) DO UPDATE SET step = excluded.step WHERE totp_step.step < excluded.step
//
// and report whether a row changed. When an account's key is reset or imported, delete its entry,
// otherwise an HOTP counter would be compared with an old TOTP step.
type StepStore interface {
	// Advance records step as the last accepted one for account if and only if it is greater
	// than the stored one (or none is stored), and reports whether it did.
	Advance(ctx context.Context, account string, step int64) (bool, error)
	// Last returns the last accepted step, or ok=false when none is stored.
	Last(ctx context.Context, account string) (step int64, ok bool, err error)
}

// MemStepStore is an in-memory StepStore, for tests and single-process use.
type MemStepStore struct {
	mu   sync.Mutex
	last map[string]int64
}

// Advance implements StepStore.
func (m *MemStepStore) Advance(_ context.Context, account string, step int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.last == nil {
		m.last = make(map[string]int64)
	}
	if cur, ok := m.last[account]; ok && cur >= step {
		return false, nil
	}
	m.last[account] = step
	return true, nil
}

// Last implements StepStore.
func (m *MemStepStore) Last(_ context.Context, account string) (int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.last[account]
	return s, ok, nil
}

// Reset forgets account's last step (what the lead's store does when a key is reset).
func (m *MemStepStore) Reset(account string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.last, account)
}

// Verifier checks codes against a Key and refuses replays through a StepStore.
type Verifier struct {
	Steps StepStore        // required
	Now   func() time.Time // nil means time.Now
	// Window is used for keys whose Window is nil; nil here means DefaultWindow (±1 step).
	Window *Window
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *Verifier) window(k Key) Window {
	if k.Window != nil {
		return *k.Window
	}
	if v.Window != nil {
		return *v.Window
	}
	return DefaultWindow
}

// NormalizeCode removes the spaces people type inside codes ("123 456").
func NormalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, code)
}

func wellFormed(code string, digits int) bool {
	if len(code) != digits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// Verify checks code for account's key. It returns the accepted step (or HOTP counter) on
// success, ErrInvalidCode or ErrReplayed on refusal, or another error (store, key) which must
// also be treated as a refusal.
func (v *Verifier) Verify(ctx context.Context, account string, key Key, code string) (int64, error) {
	if v.Steps == nil {
		return 0, errors.New("totp: Verifier has no StepStore")
	}
	if len(key.Secret) == 0 {
		return 0, errors.New("totp: key has no secret")
	}
	code = NormalizeCode(code)
	digits := key.digits()
	if !wellFormed(code, digits) {
		return 0, ErrInvalidCode
	}
	w := v.window(key)
	if w.Behind < 0 || w.Ahead < 0 || w.Behind+w.Ahead > 200 {
		return 0, fmt.Errorf("totp: window %+v out of range", w)
	}

	// Candidate steps, most likely first: for TOTP the current step, then one behind, one
	// ahead, two behind…; for HOTP the counters in increasing order.
	var candidates []int64
	switch key.Kind {
	case KindTOTP:
		cur := Step(v.now().Unix(), key.period()) + key.Skew
		candidates = append(candidates, cur)
		for d := 1; d <= max(w.Behind, w.Ahead); d++ {
			if d <= w.Behind {
				candidates = append(candidates, cur-int64(d))
			}
			if d <= w.Ahead {
				candidates = append(candidates, cur+int64(d))
			}
		}
	case KindHOTP:
		prev, ok, err := v.Steps.Last(ctx, account)
		if err != nil {
			return 0, fmt.Errorf("totp: reading last counter of %s: %w", account, err)
		}
		first := max(key.Counter, 0)
		if ok && prev+1 > first {
			first = prev + 1
		}
		for s := first; s <= first+int64(w.Behind+w.Ahead); s++ {
			candidates = append(candidates, s)
		}
	default:
		return 0, fmt.Errorf("totp: unknown key kind %d", key.Kind)
	}

	// Compare against every candidate without stopping early, so that timing does not tell
	// which step matched. A 6-digit code collides with a neighbouring step's about once in a
	// million, hence possibly several matches.
	var matched []int64
	for _, s := range candidates {
		if s < 0 {
			continue
		}
		want, err := HOTP(key.Secret, uint64(s), key.Algorithm, digits)
		if err != nil {
			return 0, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			matched = append(matched, s)
		}
	}
	if len(matched) == 0 {
		return 0, ErrInvalidCode
	}
	for _, s := range matched {
		ok, err := v.Steps.Advance(ctx, account, s)
		if err != nil {
			return 0, fmt.Errorf("totp: recording step of %s: %w", account, err)
		}
		if ok {
			return s, nil
		}
	}
	return 0, ErrReplayed
}

// Code returns the current TOTP code of key at time t (used by enrolment confirmation tests
// and by tools; the server never needs to show a code).
func Code(key Key, t time.Time) (string, error) {
	return HOTP(key.Secret, uint64(Step(t.Unix(), key.period())+key.Skew), key.Algorithm, key.digits())
}
