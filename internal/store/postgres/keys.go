package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store"
)

func insertIngressKey(ctx context.Context, tx pgx.Tx, k store.IngressKey) (store.IngressKey, error) {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now().UTC()
	}
	err := tx.QueryRow(ctx, `INSERT INTO ingress_keys(account, line, type, fingerprint, comment, from_pattern, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id`, k.Account, k.Line, k.Type, k.Fingerprint, k.Comment, k.From, unix(k.CreatedAt)).Scan(&k.ID)
	if isUnique(err) {
		return k, store.ErrExists
	}
	return k, err
}

// AddIngressKey adds a login key to an existing account.
func (s *Store) AddIngressKey(ctx context.Context, k store.IngressKey) (store.IngressKey, error) {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM accounts WHERE name=$1`, k.Account).Scan(&one); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
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

func scanIngress(sc pgx.Row) (store.IngressKey, error) {
	var k store.IngressKey
	var created int64
	err := sc.Scan(&k.ID, &k.Account, &k.Line, &k.Type, &k.Fingerprint, &k.Comment, &k.From, &created)
	k.CreatedAt = fromUnix(created)
	return k, err
}

// ListIngressKeys returns an account's login keys, oldest first.
func (s *Store) ListIngressKeys(ctx context.Context, account string) ([]store.IngressKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+ingressCols+` FROM ingress_keys WHERE account=$1 ORDER BY id`, account)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.CollectableRow) (store.IngressKey, error) { return scanIngress(r) })
}

// FindIngressKey returns the account's key with that fingerprint.
func (s *Store) FindIngressKey(ctx context.Context, account, fingerprint string) (store.IngressKey, error) {
	k, err := scanIngress(s.pool.QueryRow(ctx, `SELECT `+ingressCols+` FROM ingress_keys WHERE account=$1 AND fingerprint=$2`, account, fingerprint))
	if errors.Is(err, pgx.ErrNoRows) {
		return k, store.ErrNotFound
	}
	return k, err
}

// DeleteIngressKey removes one login key.
func (s *Store) DeleteIngressKey(ctx context.Context, account, fingerprint string) error {
	return notFoundIfNone(s.pool.Exec(ctx, `DELETE FROM ingress_keys WHERE account=$1 AND fingerprint=$2`, account, fingerprint))
}

// AddEgressKey stores a sealed key pair.
func (s *Store) AddEgressKey(ctx context.Context, k store.EgressKey) (store.EgressKey, error) {
	if k.CreatedAt.IsZero() {
		k.CreatedAt = time.Now().UTC()
	}
	err := s.pool.QueryRow(ctx, `INSERT INTO egress_keys(owner_kind, owner, type, bits, public, fingerprint, sealed, created_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING id`, k.OwnerKind, k.Owner, k.Type, k.Bits, k.Public, k.Fingerprint, k.Sealed,
		unix(k.CreatedAt)).Scan(&k.ID)
	if isUnique(err) {
		return k, store.ErrExists
	}
	return k, err
}

// ListEgressKeys returns the key pairs of one owner, oldest first.
func (s *Store) ListEgressKeys(ctx context.Context, ownerKind, owner string) ([]store.EgressKey, error) {
	return s.egressKeysWhere(ctx, `owner_kind=$1 AND owner=$2`, ownerKind, owner)
}

// egressKeysWhere returns the key pairs matching where, oldest first.
func (s *Store) egressKeysWhere(ctx context.Context, where string, args ...any) ([]store.EgressKey, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, owner_kind, owner, type, bits, public, fingerprint, sealed, created_at
		FROM egress_keys WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.CollectableRow) (store.EgressKey, error) {
		var k store.EgressKey
		var created int64
		err := r.Scan(&k.ID, &k.OwnerKind, &k.Owner, &k.Type, &k.Bits, &k.Public, &k.Fingerprint, &k.Sealed, &created)
		k.CreatedAt = fromUnix(created)
		return k, err
	})
}

// DeleteEgressKey removes one key pair.
func (s *Store) DeleteEgressKey(ctx context.Context, ownerKind, owner, fingerprint string) error {
	return notFoundIfNone(s.pool.Exec(ctx, `DELETE FROM egress_keys WHERE owner_kind=$1 AND owner=$2 AND fingerprint=$3`, ownerKind, owner, fingerprint))
}
