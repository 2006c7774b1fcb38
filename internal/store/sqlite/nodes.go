package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storecol"
)

var (
	_ store.MFASources   = (*Store)(nil)
	_ store.SessionLocks = (*Store)(nil)
)

// UpdateMFASource changes one source's MFA throttling state in a transaction (BEGIN IMMEDIATE:
// the write lock is taken before the read).
func (s *Store) UpdateMFASource(ctx context.Context, source string, fn func(*store.MFASourceState) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var tries, counted string
		var seen int64
		err := tx.QueryRowContext(ctx, `SELECT tries, counted, seen_at FROM mfa_sources WHERE source=?`, source).Scan(&tries, &counted, &seen)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		st, err := storecol.DecodeMFASource(tries, counted, seen)
		if err != nil {
			return fmt.Errorf("MFA throttling of source %s: %w", source, err)
		}
		if err := fn(&st); err != nil {
			return err
		}
		tries, counted, seen = storecol.EncodeMFASource(st)
		_, err = tx.ExecContext(ctx, `INSERT INTO mfa_sources(source, tries, counted, seen_at) VALUES (?,?,?,?)
			ON CONFLICT(source) DO UPDATE SET tries=excluded.tries, counted=excluded.counted, seen_at=excluded.seen_at`,
			source, tries, counted, seen)
		return err
	})
}

// ForgetMFASources removes the sources not seen since before.
func (s *Store) ForgetMFASources(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM mfa_sources WHERE seen_at < ?`, unixNano(before))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// SetSessionLock records a lock or unlock of an account's sessions, one version after the last.
func (s *Store) SetSessionLock(ctx context.Context, l store.SessionLock) (store.SessionLock, error) {
	err := s.db.QueryRowContext(ctx, `INSERT INTO session_locks(account, locked, version, at, node, by_account) VALUES (?,?,1,?,?,?)
		ON CONFLICT(account) DO UPDATE SET locked=excluded.locked, version=session_locks.version+1, at=excluded.at,
			node=excluded.node, by_account=excluded.by_account
		RETURNING version`, l.Account, b2i(l.Locked), unixNano(l.At), l.Node, l.By).Scan(&l.Version)
	return l, err
}

// SessionLockStates returns the recorded lock state of those of accounts that have one.
func (s *Store) SessionLockStates(ctx context.Context, accounts []string) ([]store.SessionLock, error) {
	var out []store.SessionLock
	for _, a := range accounts { // a node's running accounts: few, and SQLite has one node
		var l store.SessionLock
		var locked int
		var at int64
		err := s.db.QueryRowContext(ctx, `SELECT account, locked, version, at, node, by_account FROM session_locks WHERE account=?`, a).
			Scan(&l.Account, &locked, &l.Version, &at, &l.Node, &l.By)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		l.Locked, l.At = locked == 1, fromUnixNano(at)
		out = append(out, l)
	}
	return out, nil
}
