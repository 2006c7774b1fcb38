package store

import (
	"context"
	"time"
)

// MFACredentials are an account's second factors as stored. Secrets stay sealed: the caller
// (internal/mfaauth) seals the TOTP key before it reaches the store and opens it after.
type MFACredentials struct {
	Account         string
	PasswordHash    string // argon2id PHC string; "" when no password is set
	PasswordChanged time.Time
	// PasswordTemporary marks the password selfMFASetupPassword sets before asking for the
	// real one: it only serves to change the password and is not a configured factor.
	PasswordTemporary bool
	// TOTPSet: a TOTP factor is configured (a key, or only scratch codes after an import).
	TOTPSet     bool
	TOTPSealed  []byte // the sealed key; nil for a scratch-only import
	TOTPCreated time.Time
	// TOTPRateAttempts and TOTPRateSeconds are an imported RATE_LIMIT (0: the server's limits).
	TOTPRateAttempts, TOTPRateSeconds int
	ScratchLeft                       int // unused scratch codes
}

// MFATOTP is what enrolling or importing a TOTP factor stores, all at once.
type MFATOTP struct {
	Sealed        []byte
	Created       time.Time
	ScratchHashes []string
	// LastStep seeds the replay protection (the confirmation code's step, or an imported
	// file's last used step) when HasLastStep is set.
	LastStep    int64
	HasLastStep bool
	// RateAttempts and RateSeconds are an imported RATE_LIMIT (0: none).
	RateAttempts, RateSeconds int
}

// MFALimitState is the throttling state of one account and factor (internal/mfa/limit.State).
type MFALimitState struct {
	Tries    []time.Time
	Pending  []time.Time
	Fails    []time.Time
	Failures int
	Locked   bool
	LockedAt time.Time // zero when unset
}

// MFA is the part of the store that holds second factors and their counters. Every method is
// atomic; the three used during a challenge (AdvanceTOTPStep, ConsumeScratchCode,
// UpdateMFALimit) are what make replays, scratch code races and parallel guessing fail.
type MFA interface {
	// GetMFA returns the account's factors; an account without any gives the zero value
	// (with Account set), not an error.
	GetMFA(ctx context.Context, account string) (MFACredentials, error)
	// SetMFAPassword sets (or replaces) the password hash.
	SetMFAPassword(ctx context.Context, account, hash string, changed time.Time, temporary bool) error
	// RehashMFAPassword replaces the hash only while it is still old (a stronger hash of the
	// same password, made after a successful login); the change time stays.
	RehashMFAPassword(ctx context.Context, account, old, hash string) error
	// ClearMFAPassword removes the password; it reports whether one was set.
	ClearMFAPassword(ctx context.Context, account string) (bool, error)
	// SetMFATOTP replaces the TOTP factor: key, scratch codes and replay state, in one transaction.
	SetMFATOTP(ctx context.Context, account string, t MFATOTP) error
	// ClearMFATOTP removes the key, the scratch codes and the replay state; it reports whether
	// a TOTP factor was set.
	ClearMFATOTP(ctx context.Context, account string) (bool, error)

	// AdvanceTOTPStep records step as the last accepted one iff it is greater than the stored
	// one (compare-and-set); it reports whether it did.
	AdvanceTOTPStep(ctx context.Context, account string, step int64) (bool, error)
	// LastTOTPStep returns the last accepted step (HOTP counter), ok=false when none.
	LastTOTPStep(ctx context.Context, account string) (step int64, ok bool, err error)
	// ConsumeScratchCode deletes the scratch code hash; true iff exactly this call removed it.
	ConsumeScratchCode(ctx context.Context, account, hash string) (bool, error)

	// UpdateMFALimit loads the state (zero when absent), calls fn and saves what it left, in
	// one transaction; when fn fails nothing is saved.
	UpdateMFALimit(ctx context.Context, account, factor string, fn func(*MFALimitState) error) error
	// ResetMFALimits forgets every counter and lockout of the account (accountUnlock).
	ResetMFALimits(ctx context.Context, account string) error

	// MFASecret returns the server secret called name, stored sealed by the caller; when there
	// is none yet it stores what create returns. Concurrent first calls agree on one value.
	MFASecret(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error)
}
