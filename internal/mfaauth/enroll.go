package mfaauth

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"gatehouse/internal/audit"
	"gatehouse/internal/mfa/limit"
	"gatehouse/internal/mfa/password"
	"gatehouse/internal/mfa/totp"
	"gatehouse/internal/store"
)

// MinPasswordLength is the shortest MFA password accepted.
const MinPasswordLength = 8

// CheckPasswordRule says what is wrong with a new password, or nil.
func CheckPasswordRule(newPassword, current string) error {
	switch {
	case newPassword == "":
		//lint:ignore ST1005 pam_unix's sentence, shown to the user as it is
		return errors.New("No password has been supplied.")
	case len(newPassword) < MinPasswordLength:
		return fmt.Errorf("BAD PASSWORD: it is shorter than %d characters", MinPasswordLength)
	case len(newPassword) > password.MaxLength:
		return fmt.Errorf("BAD PASSWORD: it is longer than %d bytes", password.MaxLength)
	case newPassword == current:
		//lint:ignore ST1005 pam_unix's sentence, shown to the user as it is
		return errors.New("Password unchanged")
	}
	return nil
}

// SetPassword hashes pw and stores it as account's password (temporary: the placeholder of
// selfMFASetupPassword's first step, not yet a configured factor).
func (a *Auth) SetPassword(ctx context.Context, account, pw string, temporary bool) error {
	h, err := password.Hash(pw, a.passwordParams())
	if err != nil {
		return err
	}
	if err := a.Store.SetMFAPassword(ctx, account, h, a.now(), temporary); err != nil {
		return fmt.Errorf("store the password of %s: %w", account, err)
	}
	// After the fact: the log counts and alerts a failure.
	_ = a.audit(ctx, "mfa.password_set", audit.Fields{Account: account, Extra: map[string]string{"temporary": strconv.FormatBool(temporary)}})
	return nil
}

// CheckPassword verifies pw against account's stored hash, counting the try in the same rate
// limit and lockout as a login, so that a command cannot be used to guess the password.
func (a *Auth) CheckPassword(ctx context.Context, account, pw, hash string) (bool, error) {
	try, err := a.Limiter().Begin(ctx, account, "password", nil)
	if err != nil {
		if errors.Is(err, limit.ErrRateLimited) || errors.Is(err, limit.ErrLocked) {
			// Refused either way.
			_ = a.audit(ctx, "mfa.refused", audit.Fields{Account: account, Factor: "password", Extra: map[string]string{"stage": "password-change", "reason": err.Error()}})
		}
		return false, err
	}
	if len(pw) > password.MaxLength {
		_ = try.Done(ctx, false)
		return false, nil
	}
	a.slotsOnce.Do(func() { a.slots = make(chan struct{}, maxPasswordChecks) })
	a.slots <- struct{}{}
	ok, err := password.Verify(pw, hash)
	<-a.slots
	if err != nil {
		_ = try.Done(ctx, false)
		return false, err
	}
	if derr := try.Done(ctx, ok); derr != nil {
		return false, derr
	}
	kind := "mfa.fail"
	if ok {
		kind = "mfa.pass"
	}
	// After the fact: the log counts and alerts a failure.
	_ = a.audit(ctx, kind, audit.Fields{Account: account, Factor: "password", Extra: map[string]string{"stage": "password-change"}})
	return ok, nil
}

// TOTPEnrolment is a TOTP factor to store.
type TOTPEnrolment struct {
	Key          *totp.Key // nil for a scratch-only import
	ScratchCodes []string  // in clear; only their MACs are stored
	LastStep     int64     // replay protection seed, when HasLastStep
	HasLastStep  bool
	RateLimit    *totp.GARateLimit // an imported RATE_LIMIT
	Source       string            // "setup" or "import", for the audit
}

// SaveTOTP stores a TOTP factor (replacing any previous one, its scratch codes and its replay
// state) with the key sealed and the scratch codes MACed.
func (a *Auth) SaveTOTP(ctx context.Context, account string, e TOTPEnrolment) error {
	t := store.MFATOTP{Created: a.now(), LastStep: e.LastStep, HasLastStep: e.HasLastStep}
	if e.Key != nil {
		sealed, err := a.sealKey(*e.Key)
		if err != nil {
			return fmt.Errorf("seal the TOTP key of %s: %w", account, err)
		}
		t.Sealed = sealed
	}
	if e.RateLimit != nil {
		t.RateAttempts, t.RateSeconds = e.RateLimit.Attempts, e.RateLimit.Seconds
	}
	sc, err := a.Scratch(ctx)
	if err != nil {
		return err
	}
	if t.ScratchHashes, err = sc.HashAll(account, e.ScratchCodes); err != nil {
		return err
	}
	if err := a.Store.SetMFATOTP(ctx, account, t); err != nil {
		return fmt.Errorf("store the TOTP factor of %s: %w", account, err)
	}
	// After the fact: the log counts and alerts a failure.
	_ = a.audit(ctx, "mfa.totp_enrolled", audit.Fields{Account: account, Extra: map[string]string{"source": e.Source, "scratch_codes": strconv.Itoa(len(e.ScratchCodes)), "has_key": strconv.FormatBool(e.Key != nil)}})
	return nil
}

// Unlock clears account's MFA counters and lockouts (accountUnlock).
func (a *Auth) Unlock(ctx context.Context, account string) error {
	return a.Limiter().Unlock(ctx, account)
}
