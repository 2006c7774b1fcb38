package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store"
)

// The key sync's bookkeeping (internal/keysync), with the same contract as the SQLite store's:
// a sync changes only the accounts it manages and unfreezes only those it froze itself.

// SyncedAccounts returns every account managed by a sync source, sorted by name.
func (s *Store) SyncedAccounts(ctx context.Context) ([]store.SyncedAccount, error) {
	rows, err := s.pool.Query(ctx, `SELECT s.account, s.source,
		s.frozen_by_sync AND a.frozen AND a.frozen_reason = s.frozen_reason, s.since
		FROM sync_accounts s JOIN accounts a ON a.name = s.account ORDER BY s.account`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SyncedAccount
	for rows.Next() {
		var m store.SyncedAccount
		var since int64
		if err := rows.Scan(&m.Account, &m.Source, &m.FrozenBySync, &since); err != nil {
			return nil, err
		}
		m.Since = fromUnix(since)
		out = append(out, m)
	}
	return out, rows.Err()
}

// CreateSyncedAccount creates the account with its keys and marks it managed by source, in one
// transaction.
func (s *Store) CreateSyncedAccount(ctx context.Context, source string, a store.Account, keys []store.IngressKey) error {
	if a.Name == "" || source == "" {
		return errors.New("store: empty account name or sync source")
	}
	id, err := newAccountID()
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		if err := createAccount(ctx, tx, id, a, keys); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO sync_accounts(account, source, since) VALUES ($1,$2,$3)`,
			a.Name, source, unix(a.CreatedAt))
		return err
	})
}

// SyncFreeze freezes (freeze true) or unfreezes an account managed by source and returns the
// account as it was before; store.ErrNotManaged when source does not manage it, or an unfreeze
// names an account the sync did not freeze.
func (s *Store) SyncFreeze(ctx context.Context, account, source string, freeze bool, reason string) (store.Account, error) {
	var before store.Account
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var src, syncReason string
		var bySync bool
		err := tx.QueryRow(ctx, `SELECT source, frozen_by_sync, frozen_reason FROM sync_accounts WHERE account=$1 FOR UPDATE`,
			account).Scan(&src, &bySync, &syncReason)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && src != source) {
			return store.ErrNotManaged
		}
		if err != nil {
			return err
		}
		if before, err = loadAccount(ctx, tx, account, " FOR UPDATE"); err != nil {
			return err
		}
		if freeze {
			if before.Frozen {
				return nil
			}
			if _, err := tx.Exec(ctx, `UPDATE accounts SET frozen=true, frozen_reason=$1 WHERE name=$2`, reason, account); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `UPDATE sync_accounts SET frozen_by_sync=true, frozen_reason=$1 WHERE account=$2`, reason, account)
			return err
		}
		if !bySync || !before.Frozen || before.FrozenReason != syncReason {
			return store.ErrNotManaged
		}
		if _, err := tx.Exec(ctx, `UPDATE accounts SET frozen=false, frozen_reason='' WHERE name=$1`, account); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE sync_accounts SET frozen_by_sync=false, frozen_reason='' WHERE account=$1`, account)
		return err
	})
	return before, err
}

// SyncManages reports whether source manages account.
func (s *Store) SyncManages(ctx context.Context, account, source string) (bool, error) {
	var src string
	err := s.pool.QueryRow(ctx, `SELECT source FROM sync_accounts WHERE account=$1`, account).Scan(&src)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil && src == source, err
}
