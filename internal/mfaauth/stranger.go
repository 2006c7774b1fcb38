package mfaauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/ingress"
	"gatehouse/internal/mfa"
	"gatehouse/internal/mfa/limit"
	"gatehouse/internal/mfa/password"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/store"
)

// Logins without a key are open to anyone who knows an account name. Two rules keep a stranger
// from locking a person out or telling accounts apart:
//
//   - Per source address, tries without a verified key are throttled (MFASourceRateLimit*),
//     before the account's own limits, and one source's failures count toward the account's
//     lockout only up to MFASourceLockCap (see limit.SourceLimits).
//   - Every name is offered keyboard-interactive, existing or not, pubkey-optional or not. A
//     name that cannot log in without a key gets the decoy: the same password prompts, the
//     same argon2id work, the same per-source throttle, then the same refusal.

// sourceLimits are the per-source limits in force. The lockout cap stays below
// MFALockAfterFailures whatever the file says.
func (a *Auth) sourceLimits() limit.SourceLimits {
	cfg := a.Config()
	lc := cfg.MFASourceLockCap
	if cfg.MFALockAfterFailures > 0 {
		lc = min(lc, cfg.MFALockAfterFailures-1)
	}
	return limit.SourceLimits{Attempts: cfg.MFASourceRateLimitAttempts,
		Window: time.Duration(cfg.MFASourceRateLimitSeconds) * time.Second, LockCap: lc}
}

// keyless applies the per-source limits of conn's address to l, for a try without a key. The
// per-source state is in the store (store.MFASources), so that the nodes of a cluster throttle
// a source together: tries failed on node A count at node B.
func (a *Auth) keyless(l *limit.Limiter, conn ssh.ConnMetadata) {
	l.Sources, l.SourceLimits = sourceStore{a}, a.sourceLimits()
	l.Source = "unknown" // an address we cannot read shares one throttle (fail closed)
	if ip, ok := ingress.SourceKey(conn.RemoteAddr()); ok {
		l.Source = ip.String()
	}
}

// decoyHash is the hash of a random password nobody knows, made once with the parameters in
// force, so that a decoy costs what a real check costs.
func (a *Auth) decoyHash() (string, error) {
	a.decoyOnce.Do(func() {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			a.decoyErr = err
			return
		}
		a.decoy, a.decoyErr = password.Hash(hex.EncodeToString(b), a.passwordParams())
	})
	if a.decoyErr != nil {
		return "", fmt.Errorf("decoy hash: %w", a.decoyErr)
	}
	return a.decoy, nil
}

// Decoy is the keyboard-interactive answer for a name that cannot log in without a key: it
// asks as a password-holding account would and always refuses.
func (a *Auth) Decoy(name string) func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
	return func(conn ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
		ctx := context.Background()
		hash, err := a.decoyHash()
		if err != nil {
			a.log().Error("no decoy for a login without a key; refusing it", "err", err)
			return nil, errRefused
		}
		// A fresh table for the account side: names that do not exist must not fill the
		// store; the per-source throttle is the shared one.
		lim := &limit.Limiter{Store: &limit.MemStore{}, Now: a.now}
		a.keyless(lim, conn)
		ch := &mfa.Challenger{Limiter: lim, Aging: a.Aging(), PasswordParams: a.passwordParams(), Now: a.now}
		p, g := a.guarded(ctx, mfa.KeyboardInteractive(client))
		defer g.release()
		// A password set just now: no expiry line, as most accounts show.
		_, err = ch.Challenge(ctx, p, mfa.Credentials{Account: name, PasswordHash: hash, PasswordChanged: a.now()}, policy.Password)
		var me *mfa.Error
		if err != nil && !errors.As(err, &me) {
			a.log().Error("decoy challenge", "err", err)
		}
		return nil, errRefused // whatever was typed
	}
}

// sourceStore keeps the per-source MFA throttling in the store (one transaction per count,
// the row locked), and sweeps the sources idle for limit.SourceIdle every 256 counts.
type sourceStore struct{ a *Auth }

func (s sourceStore) UpdateSource(ctx context.Context, source string, now time.Time, fn func(*limit.SourceState)) error {
	// The table is capped (store.MFASourceRoom): a new source makes room by evicting sources
	// idle for a day, then sources outside the rate window; a table full of sources that tried
	// within the window refuses it, as the in-memory table does (limit.ErrSourcesFull: the try
	// is throttled, and its failure does not count toward the account's lockout).
	room := store.MFASourceRoom{Max: s.a.Config().MFASourceTableMax, IdleBefore: now.Add(-limit.SourceIdle), QuietBefore: now.Add(-s.a.sourceLimits().Window)}
	err := s.a.Store.UpdateMFASource(ctx, source, room, func(st *store.MFASourceState) error {
		ls := limit.SourceState{Tries: st.Tries, Counted: st.Counted, Seen: st.Seen}
		fn(&ls)
		*st = store.MFASourceState{Tries: ls.Tries, Counted: ls.Counted, Seen: ls.Seen}
		return nil
	})
	if errors.Is(err, store.ErrMFASourcesFull) {
		return fmt.Errorf("%w (%w)", limit.ErrSourcesFull, err)
	}
	if err != nil {
		return err
	}
	if s.a.sourceCounts.Add(1)%256 == 0 {
		if _, err := s.a.Store.ForgetMFASources(ctx, now.Add(-limit.SourceIdle)); err != nil {
			s.a.log().Debug("per-source MFA throttling: sweep", "err", err)
		}
	}
	return nil
}
