package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"gatehouse/internal/store"
)

func insertIngressKey(ctx context.Context, tx *sql.Tx, k store.IngressKey) (store.IngressKey, error) {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now().UTC()
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO ingress_keys(account, line, type, fingerprint, comment, from_pattern, created_at)
		VALUES (?,?,?,?,?,?,?)`, k.Account, k.Line, k.Type, k.Fingerprint, k.Comment, k.From, unix(k.CreatedAt))
	if isUnique(err) {
		return k, store.ErrExists
	}
	if err != nil {
		return k, err
	}
	k.ID, err = res.LastInsertId()
	return k, err
}

// AddIngressKey adds a login key to an existing account.
func (s *Store) AddIngressKey(ctx context.Context, k store.IngressKey) (store.IngressKey, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var one int
		if err := s.in(tx).QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE name=?`, k.Account).Scan(&one); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return store.ErrNotFound
			}
			return err
		}
		var err error
		k, err = insertIngressKey(ctx, tx, k)
		return err
	})
	return k, err
}

const ingressCols = `id, account, line, type, fingerprint, comment, from_pattern, created_at`

func scanIngress(sc interface{ Scan(...any) error }) (store.IngressKey, error) {
	var k store.IngressKey
	var created int64
	err := sc.Scan(&k.ID, &k.Account, &k.Line, &k.Type, &k.Fingerprint, &k.Comment, &k.From, &created)
	k.CreatedAt = fromUnix(created)
	return k, err
}

// ListIngressKeys returns an account's login keys, oldest first.
func (s *Store) ListIngressKeys(ctx context.Context, account string) ([]store.IngressKey, error) {
	rows, err := s.pool().QueryContext(ctx, `SELECT `+ingressCols+` FROM ingress_keys WHERE account=? ORDER BY id`, account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.IngressKey
	for rows.Next() {
		k, err := scanIngress(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// FindIngressKey returns the account's key with that fingerprint.
func (s *Store) FindIngressKey(ctx context.Context, account, fingerprint string) (store.IngressKey, error) {
	k, err := scanIngress(s.pool().QueryRowContext(ctx, `SELECT `+ingressCols+` FROM ingress_keys WHERE account=? AND fingerprint=?`, account, fingerprint))
	if errors.Is(err, sql.ErrNoRows) {
		return k, store.ErrNotFound
	}
	return k, err
}

// DeleteIngressKey removes one login key.
func (s *Store) DeleteIngressKey(ctx context.Context, account, fingerprint string) error {
	res, err := s.pool().ExecContext(ctx, `DELETE FROM ingress_keys WHERE account=? AND fingerprint=?`, account, fingerprint)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// AddEgressKey stores a sealed key pair.
func (s *Store) AddEgressKey(ctx context.Context, k store.EgressKey) (store.EgressKey, error) {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now().UTC()
	}
	res, err := s.pool().ExecContext(ctx, `INSERT INTO egress_keys(owner_kind, owner, type, bits, public, fingerprint, sealed, created_at)
		VALUES (?,?,?,?,?,?,?,?)`, k.OwnerKind, k.Owner, k.Type, k.Bits, k.Public, k.Fingerprint, k.Sealed, unix(k.CreatedAt))
	if isUnique(err) {
		return k, store.ErrExists
	}
	if err != nil {
		return k, err
	}
	k.ID, err = res.LastInsertId()
	return k, err
}

// ListEgressKeys returns the key pairs of one owner, oldest first.
func (s *Store) ListEgressKeys(ctx context.Context, ownerKind, owner string) ([]store.EgressKey, error) {
	return s.egressKeysWhere(ctx, `owner_kind=? AND owner=?`, ownerKind, owner)
}

// egressKeysWhere returns the key pairs matching where, oldest first.
func (s *Store) egressKeysWhere(ctx context.Context, where string, args ...any) ([]store.EgressKey, error) {
	rows, err := s.pool().QueryContext(ctx, `SELECT id, owner_kind, owner, type, bits, public, fingerprint, sealed, created_at
		FROM egress_keys WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.EgressKey
	for rows.Next() {
		var k store.EgressKey
		var created int64
		if err := rows.Scan(&k.ID, &k.OwnerKind, &k.Owner, &k.Type, &k.Bits, &k.Public, &k.Fingerprint, &k.Sealed, &created); err != nil {
			return nil, err
		}
		k.CreatedAt = fromUnix(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

// DeleteEgressKey removes one key pair.
func (s *Store) DeleteEgressKey(ctx context.Context, ownerKind, owner, fingerprint string) error {
	res, err := s.pool().ExecContext(ctx, `DELETE FROM egress_keys WHERE owner_kind=? AND owner=? AND fingerprint=?`, ownerKind, owner, fingerprint)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}
