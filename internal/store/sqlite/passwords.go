package sqlite

import (
	"context"
	"database/sql"

	"gatehouse/internal/store"
)

// AddEgressPassword stores a new current password and forgets the generations beyond
// store.MaxEgressPasswords, in one transaction.
func (s *Store) AddEgressPassword(ctx context.Context, p store.EgressPassword) (store.EgressPassword, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := s.in(tx).ExecContext(ctx, `INSERT INTO egress_passwords(owner_kind, owner, sealed, created_at, created_by) VALUES (?,?,?,?,?)`,
			p.OwnerKind, p.Owner, p.Sealed, unix(p.CreatedAt), p.CreatedBy)
		if err != nil {
			return err
		}
		if p.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		_, err = s.in(tx).ExecContext(ctx, `DELETE FROM egress_passwords WHERE owner_kind=? AND owner=? AND id NOT IN
			(SELECT id FROM egress_passwords WHERE owner_kind=? AND owner=? ORDER BY id DESC LIMIT ?)`,
			p.OwnerKind, p.Owner, p.OwnerKind, p.Owner, store.MaxEgressPasswords)
		return err
	})
	return p, err
}

// ListEgressPasswords returns the owner's passwords, the current one first.
func (s *Store) ListEgressPasswords(ctx context.Context, ownerKind, owner string) ([]store.EgressPassword, error) {
	rows, err := s.pool().QueryContext(ctx, `SELECT id, owner_kind, owner, sealed, created_at, created_by FROM egress_passwords
		WHERE owner_kind=? AND owner=? ORDER BY id DESC`, ownerKind, owner)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.EgressPassword
	for rows.Next() {
		var p store.EgressPassword
		var created int64
		if err := rows.Scan(&p.ID, &p.OwnerKind, &p.Owner, &p.Sealed, &created, &p.CreatedBy); err != nil {
			return nil, err
		}
		p.CreatedAt = fromUnix(created)
		out = append(out, p)
	}
	return out, rows.Err()
}
