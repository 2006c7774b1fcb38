package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"gatehouse/internal/store"
)

var _ store.SourcePenalties = (*Store)(nil)

// SourcePenalty reads one source's shared penalty state.
func (s *Store) SourcePenalty(ctx context.Context, source string) (store.SourcePenalty, error) {
	var p store.SourcePenalty
	var until, last int64
	var active int
	err := s.pool().QueryRowContext(ctx, `SELECT until_at, active, strikes, last_at FROM source_penalties WHERE source=?`, source).
		Scan(&until, &active, &p.Strikes, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return store.SourcePenalty{}, nil
	}
	if err != nil {
		return p, err
	}
	p.Until, p.Active, p.Last = fromUnixNano(until), active == 1, fromUnixNano(last)
	return p, nil
}

// UpdateSourcePenalty changes one source's state in a transaction.
func (s *Store) UpdateSourcePenalty(ctx context.Context, source string, fn func(*store.SourcePenalty) bool) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var p store.SourcePenalty
		var until, last int64
		var active int
		err := s.in(tx).QueryRowContext(ctx, `SELECT until_at, active, strikes, last_at FROM source_penalties WHERE source=?`, source).
			Scan(&until, &active, &p.Strikes, &last)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err == nil {
			p.Until, p.Active, p.Last = fromUnixNano(until), active == 1, fromUnixNano(last)
		}
		if !fn(&p) {
			_, err := s.in(tx).ExecContext(ctx, `DELETE FROM source_penalties WHERE source=?`, source)
			return err
		}
		_, err = s.in(tx).ExecContext(ctx, `INSERT INTO source_penalties(source, until_at, active, strikes, last_at) VALUES (?,?,?,?,?)
			ON CONFLICT(source) DO UPDATE SET until_at=excluded.until_at, active=excluded.active, strikes=excluded.strikes, last_at=excluded.last_at`,
			source, unixNano(p.Until), b2i(p.Active), p.Strikes, unixNano(p.Last))
		return err
	})
}

// ForgetSourcePenalties removes the states that ended before t.
func (s *Store) ForgetSourcePenalties(ctx context.Context, before time.Time) (int, error) {
	res, err := s.pool().ExecContext(ctx, `DELETE FROM source_penalties WHERE until_at < ? AND last_at < ?`, unixNano(before), unixNano(before))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
