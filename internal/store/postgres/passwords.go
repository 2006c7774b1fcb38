package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store"
)

// AddEgressPassword stores a new current password and forgets the generations beyond
// store.MaxEgressPasswords, in one transaction.
func (s *Store) AddEgressPassword(ctx context.Context, p store.EgressPassword) (store.EgressPassword, error) {
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO egress_passwords(owner_kind, owner, sealed, created_at, created_by) VALUES ($1,$2,$3,$4,$5) RETURNING id`,
			p.OwnerKind, p.Owner, p.Sealed, unix(p.CreatedAt), p.CreatedBy).Scan(&p.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM egress_passwords WHERE owner_kind=$1 AND owner=$2 AND id NOT IN
			(SELECT id FROM egress_passwords WHERE owner_kind=$1 AND owner=$2 ORDER BY id DESC LIMIT $3)`,
			p.OwnerKind, p.Owner, store.MaxEgressPasswords)
		return err
	})
	return p, err
}

// ListEgressPasswords returns the owner's passwords, the current one first.
func (s *Store) ListEgressPasswords(ctx context.Context, ownerKind, owner string) ([]store.EgressPassword, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, owner_kind, owner, sealed, created_at, created_by FROM egress_passwords
		WHERE owner_kind=$1 AND owner=$2 ORDER BY id DESC`, ownerKind, owner)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.CollectableRow) (store.EgressPassword, error) {
		var p store.EgressPassword
		var created int64
		err := r.Scan(&p.ID, &p.OwnerKind, &p.Owner, &p.Sealed, &created, &p.CreatedBy)
		p.CreatedAt = fromUnix(created)
		return p, err
	})
}
