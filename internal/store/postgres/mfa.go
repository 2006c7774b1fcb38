package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store"
)

var _ store.MFA = (*Store)(nil)

// GetMFA reads the account's factors in one query.
func (s *Store) GetMFA(ctx context.Context, account string) (store.MFACredentials, error) {
	c := store.MFACredentials{Account: account}
	var (
		hash                  *string
		changed               *int64
		temp                  *bool
		sealed                []byte
		created               *int64
		rateA, rateS, scratch *int64
	)
	err := s.pool.QueryRow(ctx, `SELECT p.hash, p.changed_at, p.temporary,
			t.account IS NOT NULL, t.sealed, t.created_at, t.rate_attempts::bigint, t.rate_seconds::bigint,
			(SELECT COUNT(*) FROM mfa_scratch WHERE account = x.a)
		FROM (SELECT $1::text AS a) x
		LEFT JOIN mfa_password p ON p.account = x.a
		LEFT JOIN mfa_totp t ON t.account = x.a`, account).
		Scan(&hash, &changed, &temp, &c.TOTPSet, &sealed, &created, &rateA, &rateS, &scratch)
	if err != nil {
		return c, fmt.Errorf("read MFA factors of %s: %w", account, err)
	}
	val := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	if hash != nil {
		c.PasswordHash = *hash
	}
	c.PasswordChanged, c.PasswordTemporary = fromUnix(val(changed)), temp != nil && *temp
	c.TOTPSealed, c.TOTPCreated = sealed, fromUnix(val(created))
	c.TOTPRateAttempts, c.TOTPRateSeconds, c.ScratchLeft = int(val(rateA)), int(val(rateS)), int(val(scratch))
	return c, nil
}

// SetMFAPassword sets or replaces the password hash.
func (s *Store) SetMFAPassword(ctx context.Context, account, hash string, changed time.Time, temporary bool) error {
	if account == "" || hash == "" {
		return errors.New("store: empty account or password hash")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO mfa_password(account, hash, changed_at, temporary) VALUES ($1,$2,$3,$4)
		ON CONFLICT(account) DO UPDATE SET hash=excluded.hash, changed_at=excluded.changed_at, temporary=excluded.temporary`,
		account, hash, unix(changed), temporary)
	return err
}

// RehashMFAPassword swaps the hash only if it is still old.
func (s *Store) RehashMFAPassword(ctx context.Context, account, old, hash string) error {
	_, err := s.pool.Exec(ctx, `UPDATE mfa_password SET hash=$1 WHERE account=$2 AND hash=$3`, hash, account, old)
	return err
}

// ClearMFAPassword removes the password.
func (s *Store) ClearMFAPassword(ctx context.Context, account string) (bool, error) {
	return affected(s.pool.Exec(ctx, `DELETE FROM mfa_password WHERE account=$1`, account))
}

// SetMFATOTP replaces the TOTP factor, its scratch codes and its replay state at once.
func (s *Store) SetMFATOTP(ctx context.Context, account string, t store.MFATOTP) error {
	if account == "" {
		return errors.New("store: empty account name")
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := clearTOTP(ctx, tx, account); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO mfa_totp(account, sealed, created_at, rate_attempts, rate_seconds) VALUES ($1,$2,$3,$4,$5)`,
			account, t.Sealed, unix(t.Created), t.RateAttempts, t.RateSeconds); err != nil {
			return err
		}
		for _, h := range t.ScratchHashes {
			if _, err := tx.Exec(ctx, `INSERT INTO mfa_scratch(account, hash) VALUES ($1,$2) ON CONFLICT DO NOTHING`, account, h); err != nil {
				return err
			}
		}
		if t.HasLastStep {
			if _, err := tx.Exec(ctx, `INSERT INTO mfa_totp_step(account, step) VALUES ($1,$2)`, account, t.LastStep); err != nil {
				return err
			}
		}
		return nil
	})
}

// clearTOTP removes the factor and reports whether a key or a scratch code was there.
func clearTOTP(ctx context.Context, tx pgx.Tx, account string) (bool, error) {
	had := false
	for i, q := range []string{`DELETE FROM mfa_totp WHERE account=$1`, `DELETE FROM mfa_scratch WHERE account=$1`, `DELETE FROM mfa_totp_step WHERE account=$1`} {
		tag, err := tx.Exec(ctx, q, account)
		if err != nil {
			return false, err
		}
		had = had || (i < 2 && tag.RowsAffected() > 0)
	}
	return had, nil
}

// ClearMFATOTP removes the TOTP factor with its scratch codes and replay state.
func (s *Store) ClearMFATOTP(ctx context.Context, account string) (bool, error) {
	var had bool
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var err error
		had, err = clearTOTP(ctx, tx, account)
		return err
	})
	return had, err
}

// AdvanceTOTPStep is a compare-and-set on the last accepted step: PostgreSQL re-checks the
// WHERE on the row's latest version under its row lock, so of two nodes racing with the same
// code exactly one changes the row.
func (s *Store) AdvanceTOTPStep(ctx context.Context, account string, step int64) (bool, error) {
	return affected(s.pool.Exec(ctx, `INSERT INTO mfa_totp_step(account, step) VALUES ($1, $2)
		ON CONFLICT(account) DO UPDATE SET step = excluded.step WHERE mfa_totp_step.step < excluded.step`, account, step))
}

// LastTOTPStep returns the last accepted step.
func (s *Store) LastTOTPStep(ctx context.Context, account string) (int64, bool, error) {
	var step int64
	err := s.pool.QueryRow(ctx, `SELECT step FROM mfa_totp_step WHERE account=$1`, account).Scan(&step)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return step, err == nil, err
}

// ConsumeScratchCode deletes one scratch code hash; only the call that deleted it gets true.
func (s *Store) ConsumeScratchCode(ctx context.Context, account, hash string) (bool, error) {
	return affected(s.pool.Exec(ctx, `DELETE FROM mfa_scratch WHERE account=$1 AND hash=$2`, account, hash))
}

// UpdateMFALimit runs fn over the stored state with the row locked: the row is made first (so
// there is one to lock), and a failing fn rolls that back too.
func (s *Store) UpdateMFALimit(ctx context.Context, account, factor string, fn func(*store.MFALimitState) error) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO mfa_limits(account, factor) VALUES ($1,$2) ON CONFLICT DO NOTHING`, account, factor); err != nil {
			return err
		}
		var st store.MFALimitState
		var tries, pending, fails string
		var lockedAt int64
		if err := tx.QueryRow(ctx, `SELECT tries, pending, fails, failures, locked, locked_at FROM mfa_limits WHERE account=$1 AND factor=$2 FOR UPDATE`, account, factor).
			Scan(&tries, &pending, &fails, &st.Failures, &st.Locked, &lockedAt); err != nil {
			return err
		}
		if lockedAt != 0 {
			st.LockedAt = time.Unix(0, lockedAt)
		}
		var err error
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
		var at int64
		if !st.LockedAt.IsZero() {
			at = st.LockedAt.UnixNano()
		}
		_, err = tx.Exec(ctx, `UPDATE mfa_limits SET tries=$3, pending=$4, fails=$5, failures=$6, locked=$7, locked_at=$8 WHERE account=$1 AND factor=$2`,
			account, factor, formatTries(st.Tries), formatTries(st.Pending), formatTries(st.Fails), st.Failures, st.Locked, at)
		return err
	})
}

// ResetMFALimits forgets the account's counters and lockouts.
func (s *Store) ResetMFALimits(ctx context.Context, account string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM mfa_limits WHERE account=$1`, account)
	return err
}

// MFASecret gets or creates a sealed server secret; of nodes creating it at once, the first
// insert wins and every node reads that one back.
func (s *Store) MFASecret(ctx context.Context, name string, create func() ([]byte, error)) ([]byte, error) {
	var sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT sealed FROM mfa_secrets WHERE name=$1`, name).Scan(&sealed)
	if err == nil {
		return sealed, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	fresh, err := create()
	if err != nil {
		return nil, err
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO mfa_secrets(name, sealed, created_at) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING`,
		name, fresh, time.Now().Unix()); err != nil {
		return nil, err
	}
	err = s.pool.QueryRow(ctx, `SELECT sealed FROM mfa_secrets WHERE name=$1`, name).Scan(&sealed)
	return sealed, err
}
