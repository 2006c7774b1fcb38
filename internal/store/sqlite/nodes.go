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
func (s *Store) UpdateMFASource(ctx context.Context, source string, room store.MFASourceRoom, fn func(*store.MFASourceState) error) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var tries, counted string
		var seen int64
		err := s.in(tx).QueryRowContext(ctx, `SELECT tries, counted, seen_at FROM mfa_sources WHERE source=?`, source).Scan(&tries, &counted, &seen)
		if errors.Is(err, sql.ErrNoRows) {
			err = mfaSourceRoom(ctx, tx, room)
		}
		if err != nil {
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
		_, err = s.in(tx).ExecContext(ctx, `INSERT INTO mfa_sources(source, tries, counted, seen_at) VALUES (?,?,?,?)
			ON CONFLICT(source) DO UPDATE SET tries=excluded.tries, counted=excluded.counted, seen_at=excluded.seen_at`,
			source, tries, counted, seen)
		return err
	})
}

// mfaSourceRoom makes room for one more source in mfa_sources, or returns ErrMFASourcesFull
// (store.MFASourceRoom). Counting the rows (the seen_at index, ~1 ms at 100,000) is paid by new
// sources only.
func mfaSourceRoom(ctx context.Context, tx *sql.Tx, room store.MFASourceRoom) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM mfa_sources`).Scan(&n); err != nil || n < room.Limit() {
		return err
	}
	// One count per new source: each delete says how many rows it took (a table full of recent
	// sources, an attacker's flood, must not cost three scans under the write lock per try).
	res, err := tx.ExecContext(ctx, `DELETE FROM mfa_sources WHERE seen_at < ?`, unixNano(room.IdleBefore))
	if err != nil {
		return err
	}
	if gone, err := res.RowsAffected(); err != nil {
		return err
	} else if n -= int(gone); n < room.Limit() {
		return nil
	}
	res, err = tx.ExecContext(ctx, `DELETE FROM mfa_sources WHERE source IN (SELECT source FROM mfa_sources WHERE seen_at < ? ORDER BY seen_at LIMIT ?)`,
		unixNano(room.QuietBefore), n-room.Limit()+1)
	if err != nil {
		return err
	}
	if gone, err := res.RowsAffected(); err != nil {
		return err
	} else if n -= int(gone); n < room.Limit() {
		return nil
	}
	return store.ErrMFASourcesFull
}

// ForgetMFASources removes the sources not seen since before.
func (s *Store) ForgetMFASources(ctx context.Context, before time.Time) (int, error) {
	res, err := s.pool().ExecContext(ctx, `DELETE FROM mfa_sources WHERE seen_at < ?`, unixNano(before))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// SetSessionLock records a lock or unlock of an account's sessions, one version after the last.
func (s *Store) SetSessionLock(ctx context.Context, l store.SessionLock) (store.SessionLock, error) {
	err := s.pool().QueryRowContext(ctx, `INSERT INTO session_locks(account, locked, version, at, node, by_account) VALUES (?,?,1,?,?,?)
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
		err := s.pool().QueryRowContext(ctx, `SELECT account, locked, version, at, node, by_account FROM session_locks WHERE account=?`, a).
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
