package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store"
	"gatehouse/internal/store/storecol"
)

var (
	_ store.MFASources   = (*Store)(nil)
	_ store.SessionLocks = (*Store)(nil)
)

// UpdateMFASource changes one source's MFA throttling state in a transaction; the row is created
// first when absent and locked (FOR UPDATE), so that two nodes counting tries of one source at
// once both count.
func (s *Store) UpdateMFASource(ctx context.Context, source string, room store.MFASourceRoom, fn func(*store.MFASourceState) error) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO mfa_sources(source) VALUES ($1) ON CONFLICT DO NOTHING`, source)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			// A new source: the table makes room for it or refuses it (the transaction is rolled
			// back, the row with it). Nodes adding sources at once may pass the cap by as many.
			if err := mfaSourceRoom(ctx, tx, source, room); err != nil {
				return err
			}
		}
		var tries, counted string
		var seen int64
		if err := tx.QueryRow(ctx, `SELECT tries, counted, seen_at FROM mfa_sources WHERE source=$1 FOR UPDATE`, source).
			Scan(&tries, &counted, &seen); err != nil {
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
		_, err = tx.Exec(ctx, `UPDATE mfa_sources SET tries=$2, counted=$3, seen_at=$4 WHERE source=$1`, source, tries, counted, seen)
		return err
	})
}

// mfaSourceRoom keeps mfa_sources within room's cap once source was added (see
// store.MFASourceRoom), or returns ErrMFASourcesFull.
func mfaSourceRoom(ctx context.Context, tx pgx.Tx, source string, room store.MFASourceRoom) error {
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM mfa_sources`).Scan(&n); err != nil || n <= room.Limit() {
		return err
	}
	// One count per new source: each delete says how many rows it took (a table full of recent
	// sources, an attacker's flood, must not cost three scans per try).
	tag, err := tx.Exec(ctx, `DELETE FROM mfa_sources WHERE seen_at < $1 AND source <> $2`, unixNano(room.IdleBefore), source)
	if err != nil {
		return err
	}
	if n -= int(tag.RowsAffected()); n <= room.Limit() {
		return nil
	}
	tag, err = tx.Exec(ctx, `DELETE FROM mfa_sources WHERE source IN (SELECT source FROM mfa_sources WHERE seen_at < $1 AND source <> $2 ORDER BY seen_at LIMIT $3)`,
		unixNano(room.QuietBefore), source, n-room.Limit())
	if err != nil {
		return err
	}
	if n -= int(tag.RowsAffected()); n <= room.Limit() {
		return nil
	}
	return store.ErrMFASourcesFull
}

// ForgetMFASources removes the sources not seen since before.
func (s *Store) ForgetMFASources(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM mfa_sources WHERE seen_at < $1`, unixNano(before))
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

// SetSessionLock records a lock or unlock of an account's sessions, one version after the last
// (one statement: two nodes locking one account at once get two versions).
func (s *Store) SetSessionLock(ctx context.Context, l store.SessionLock) (store.SessionLock, error) {
	err := s.pool.QueryRow(ctx, `INSERT INTO session_locks(account, locked, version, at, node, by_account) VALUES ($1,$2,1,$3,$4,$5)
		ON CONFLICT(account) DO UPDATE SET locked=excluded.locked, version=session_locks.version+1, at=excluded.at,
			node=excluded.node, by_account=excluded.by_account
		RETURNING version`, l.Account, l.Locked, unixNano(l.At), l.Node, l.By).Scan(&l.Version)
	return l, err
}

// SessionLockStates returns the recorded lock state of those of accounts that have one.
func (s *Store) SessionLockStates(ctx context.Context, accounts []string) ([]store.SessionLock, error) {
	rows, err := s.pool.Query(ctx, `SELECT account, locked, version, at, node, by_account FROM session_locks WHERE account = ANY($1)`, accounts)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SessionLock
	for rows.Next() {
		var l store.SessionLock
		var at int64
		if err := rows.Scan(&l.Account, &l.Locked, &l.Version, &at, &l.Node, &l.By); err != nil {
			return nil, err
		}
		l.At = fromUnixNano(at)
		out = append(out, l)
	}
	return out, rows.Err()
}
