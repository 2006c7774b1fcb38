package sqlite

import (
	"context"
	"database/sql"
	"errors"

	"gatehouse/internal/store"
)

// ErrNotManaged is store.ErrNotManaged.
var ErrNotManaged = store.ErrNotManaged

// SyncedAccounts returns every account managed by a sync source, sorted by name. FrozenBySync
// holds only while the account is still frozen with the reason the sync gave: an administrator
// who unfroze it, or froze it again with their own reason, took it over.
func (s *Store) SyncedAccounts(ctx context.Context) ([]store.SyncedAccount, error) {
	rows, err := s.pool().QueryContext(ctx, `SELECT s.account, s.source,
		s.frozen_by_sync = 1 AND a.frozen = 1 AND a.frozen_reason = s.frozen_reason, s.since
		FROM sync_accounts s JOIN accounts a ON a.name = s.account ORDER BY s.account`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SyncedAccount
	for rows.Next() {
		var m store.SyncedAccount
		var frozen int
		var since int64
		if err := rows.Scan(&m.Account, &m.Source, &frozen, &since); err != nil {
			return nil, err
		}
		m.FrozenBySync, m.Since = frozen == 1, fromUnix(since)
		out = append(out, m)
	}
	return out, rows.Err()
}

// CreateSyncedAccount creates the account with its keys and marks it managed by source, in one
// transaction: an account a sync creates is never left unmarked.
func (s *Store) CreateSyncedAccount(ctx context.Context, source string, a store.Account, keys []store.IngressKey) error {
	if a.Name == "" || source == "" {
		return errors.New("store: empty account name or sync source")
	}
	id, err := newAccountID()
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := createAccount(ctx, tx, id, a, keys); err != nil {
			return err
		}
		_, err := s.in(tx).ExecContext(ctx, `INSERT INTO sync_accounts(account, source, since) VALUES (?,?,?)`,
			a.Name, source, unix(a.CreatedAt))
		return err
	})
}

// SyncFreeze freezes (freeze true) or unfreezes an account managed by source, and returns the
// account as it was before. Freezing an account already frozen changes nothing (an
// administrator's freeze stays theirs). Unfreezing needs the sync's own freeze: still frozen,
// with the reason the sync gave. ErrNotManaged otherwise.
func (s *Store) SyncFreeze(ctx context.Context, account, source string, freeze bool, reason string) (store.Account, error) {
	var before store.Account
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var src, syncReason string
		var bySync int
		err := s.in(tx).QueryRowContext(ctx, `SELECT source, frozen_by_sync, frozen_reason FROM sync_accounts WHERE account=?`,
			account).Scan(&src, &bySync, &syncReason)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && src != source) {
			return ErrNotManaged
		}
		if err != nil {
			return err
		}
		if before, err = loadAccount(ctx, tx, account); err != nil {
			return err
		}
		if freeze {
			if before.Frozen {
				return nil
			}
			if _, err := s.in(tx).ExecContext(ctx, `UPDATE accounts SET frozen=1, frozen_reason=? WHERE name=?`, reason, account); err != nil {
				return err
			}
			_, err = s.in(tx).ExecContext(ctx, `UPDATE sync_accounts SET frozen_by_sync=1, frozen_reason=? WHERE account=?`, reason, account)
			return err
		}
		if bySync != 1 || !before.Frozen || before.FrozenReason != syncReason {
			return ErrNotManaged
		}
		if _, err := s.in(tx).ExecContext(ctx, `UPDATE accounts SET frozen=0, frozen_reason='' WHERE name=?`, account); err != nil {
			return err
		}
		_, err = s.in(tx).ExecContext(ctx, `UPDATE sync_accounts SET frozen_by_sync=0, frozen_reason='' WHERE account=?`, account)
		return err
	})
	return before, err
}

// SyncManages reports whether source manages account (checked again before each key change, so
// an account an administrator took over meanwhile is left alone).
func (s *Store) SyncManages(ctx context.Context, account, source string) (bool, error) {
	var src string
	err := s.pool().QueryRowContext(ctx, `SELECT source FROM sync_accounts WHERE account=?`, account).Scan(&src)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil && src == source, err
}
