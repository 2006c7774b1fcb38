package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/store"
)

var _ store.MFA = (*Store)(nil)

// GetMFA reads the account's factors in one query.
func (s *Store) GetMFA(ctx context.Context, account string) (store.MFACredentials, error) {
	c := store.MFACredentials{Account: account}
	var (
		hash                  sql.NullString
		changed, temp         sql.NullInt64
		totpSet               int
		sealed                []byte
		created, rateA, rateS sql.NullInt64
		scratch               int
	)
	err := s.pool().QueryRowContext(ctx, `SELECT p.hash, p.changed_at, p.temporary,
			t.account IS NOT NULL, t.sealed, t.created_at, t.rate_attempts, t.rate_seconds,
			(SELECT COUNT(*) FROM mfa_scratch WHERE account = x.a)
		FROM (SELECT ? AS a) x
		LEFT JOIN mfa_password p ON p.account = x.a
		LEFT JOIN mfa_totp t ON t.account = x.a`, account).
		Scan(&hash, &changed, &temp, &totpSet, &sealed, &created, &rateA, &rateS, &scratch)
	if err != nil {
		return c, fmt.Errorf("read MFA factors of %s: %w", account, err)
	}
	c.PasswordHash, c.PasswordChanged, c.PasswordTemporary = hash.String, fromUnix(changed.Int64), temp.Int64 == 1
	c.TOTPSet, c.TOTPSealed, c.TOTPCreated = totpSet == 1, sealed, fromUnix(created.Int64)
	c.TOTPRateAttempts, c.TOTPRateSeconds, c.ScratchLeft = int(rateA.Int64), int(rateS.Int64), scratch
	return c, nil
}

// SetMFAPassword sets or replaces the password hash.
func (s *Store) SetMFAPassword(ctx context.Context, account, hash string, changed time.Time, temporary bool) error {
	if account == "" || hash == "" {
		return errors.New("store: empty account or password hash")
	}
	_, err := s.pool().ExecContext(ctx, `INSERT INTO mfa_password(account, hash, changed_at, temporary) VALUES (?,?,?,?)
		ON CONFLICT(account) DO UPDATE SET hash=excluded.hash, changed_at=excluded.changed_at, temporary=excluded.temporary`,
		account, hash, unix(changed), b2i(temporary))
	return err
}

// RehashMFAPassword swaps the hash only if it is still old.
func (s *Store) RehashMFAPassword(ctx context.Context, account, old, hash string) error {
	_, err := s.pool().ExecContext(ctx, `UPDATE mfa_password SET hash=? WHERE account=? AND hash=?`, hash, account, old)
	return err
}

// ClearMFAPassword removes the password.
func (s *Store) ClearMFAPassword(ctx context.Context, account string) (bool, error) {
	res, err := s.pool().ExecContext(ctx, `DELETE FROM mfa_password WHERE account=?`, account)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// SetMFATOTP replaces the TOTP factor, its scratch codes and its replay state at once.
func (s *Store) SetMFATOTP(ctx context.Context, account string, t store.MFATOTP) error {
	if account == "" {
		return errors.New("store: empty account name")
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := clearTOTP(ctx, tx, account); err != nil {
			return err
		}
		if _, err := s.in(tx).ExecContext(ctx, `INSERT INTO mfa_totp(account, sealed, created_at, rate_attempts, rate_seconds) VALUES (?,?,?,?,?)`,
			account, t.Sealed, unix(t.Created), t.RateAttempts, t.RateSeconds); err != nil {
			return err
		}
		for _, h := range t.ScratchHashes {
			if _, err := s.in(tx).ExecContext(ctx, `INSERT OR IGNORE INTO mfa_scratch(account, hash) VALUES (?,?)`, account, h); err != nil {
				return err
			}
		}
		if t.HasLastStep {
			if _, err := s.in(tx).ExecContext(ctx, `INSERT INTO mfa_totp_step(account, step) VALUES (?,?)`, account, t.LastStep); err != nil {
				return err
			}
		}
		return nil
	})
}

func clearTOTP(ctx context.Context, tx *sql.Tx, account string) error {
	for _, q := range []string{`DELETE FROM mfa_totp WHERE account=?`, `DELETE FROM mfa_scratch WHERE account=?`, `DELETE FROM mfa_totp_step WHERE account=?`} {
		if _, err := tx.ExecContext(ctx, q, account); err != nil {
			return err
		}
	}
	return nil
}

// ClearMFATOTP removes the TOTP factor with its scratch codes and replay state.
func (s *Store) ClearMFATOTP(ctx context.Context, account string) (bool, error) {
	var had bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := s.in(tx).QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM mfa_totp WHERE account=?) + (SELECT COUNT(*) FROM mfa_scratch WHERE account=?)`,
			account, account).Scan(&n); err != nil {
			return err
		}
		had = n > 0
		return clearTOTP(ctx, tx, account)
	})
	return had, err
}

// AdvanceTOTPStep is a compare-and-set on the last accepted step.
func (s *Store) AdvanceTOTPStep(ctx context.Context, account string, step int64) (bool, error) {
	res, err := s.pool().ExecContext(ctx, `INSERT INTO mfa_totp_step(account, step) VALUES (?, ?)
		ON CONFLICT(account) DO UPDATE SET step = excluded.step WHERE mfa_totp_step.step < excluded.step`, account, step)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// LastTOTPStep returns the last accepted step.
func (s *Store) LastTOTPStep(ctx context.Context, account string) (int64, bool, error) {
	var step int64
	err := s.pool().QueryRowContext(ctx, `SELECT step FROM mfa_totp_step WHERE account=?`, account).Scan(&step)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return step, err == nil, err
}

// ConsumeScratchCode deletes one scratch code hash; only the call that deleted it gets true.
func (s *Store) ConsumeScratchCode(ctx context.Context, account, hash string) (bool, error) {
	res, err := s.pool().ExecContext(ctx, `DELETE FROM mfa_scratch WHERE account=? AND hash=?`, account, hash)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// UpdateMFALimit runs fn over the stored state in one (immediate) transaction.
func (s *Store) UpdateMFALimit(ctx context.Context, account, factor string, fn func(*store.MFALimitState) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var st store.MFALimitState
		var tries, pending, fails string
		var locked int
		var lockedAt int64
		err := s.in(tx).QueryRowContext(ctx, `SELECT tries, pending, fails, failures, locked, locked_at FROM mfa_limits WHERE account=? AND factor=?`, account, factor).
			Scan(&tries, &pending, &fails, &st.Failures, &locked, &lockedAt)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		st.Locked = locked == 1
		if lockedAt != 0 {
			st.LockedAt = time.Unix(0, lockedAt)
		}
		for _, f := range []struct {
			dst *[]time.Time
			src string
		}{{&st.Tries, tries}, {&st.Pending, pending}, {&st.Fails, fails}} {
			if *f.dst, err = parseTries(f.src); err != nil {
				return fmt.Errorf("MFA limits of %s/%s: %w", account, factor, err)
			}
		}
		if err := fn(&st); err != nil {
			return err
		}
		_, err = s.in(tx).ExecContext(ctx, `INSERT INTO mfa_limits(account, factor, tries, pending, fails, failures, locked, locked_at) VALUES (?,?,?,?,?,?,?,?)
			ON CONFLICT(account, factor) DO UPDATE SET tries=excluded.tries, pending=excluded.pending, fails=excluded.fails,
			failures=excluded.failures, locked=excluded.locked, locked_at=excluded.locked_at`,
			account, factor, formatTries(st.Tries), formatTries(st.Pending), formatTries(st.Fails), st.Failures, b2i(st.Locked), unixNanoOrZero(st.LockedAt))
		return err
	})
}

// ResetMFALimits forgets the account's counters and lockouts.
func (s *Store) ResetMFALimits(ctx context.Context, account string) error {
	_, err := s.pool().ExecContext(ctx, `DELETE FROM mfa_limits WHERE account=?`, account)
	return err
}

// MFASecret gets or creates a sealed server secret.
func (s *Store) MFASecret(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error) {
	var sealed []byte
	err := s.pool().QueryRowContext(ctx, `SELECT sealed FROM mfa_secrets WHERE name=?`, name).Scan(&sealed)
	if err == nil {
		return sealed, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	fresh, err := create()
	if err != nil {
		return nil, err
	}
	// INSERT OR IGNORE then read back: a concurrent first call that won keeps its value.
	if _, err := s.pool().ExecContext(ctx, `INSERT OR IGNORE INTO mfa_secrets(name, sealed, created_at) VALUES (?,?,?)`,
		name, fresh, time.Now().Unix()); err != nil {
		return nil, err
	}
	err = s.pool().QueryRowContext(ctx, `SELECT sealed FROM mfa_secrets WHERE name=?`, name).Scan(&sealed)
	return sealed, err
}
