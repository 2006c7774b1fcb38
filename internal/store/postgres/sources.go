package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store"
)

var _ store.SourcePenalties = (*Store)(nil)

// SourcePenalty reads one source's shared penalty state.
func (s *Store) SourcePenalty(ctx context.Context, source string) (store.SourcePenalty, error) {
	var p store.SourcePenalty
	var until, last int64
	err := s.pool.QueryRow(ctx, `SELECT until_at, active, strikes, last_at FROM source_penalties WHERE source=$1`, source).
		Scan(&until, &p.Active, &p.Strikes, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.SourcePenalty{}, nil
	}
	if err != nil {
		return p, err
	}
	p.Until, p.Last = fromUnixNano(until), fromUnixNano(last)
	return p, nil
}

// UpdateSourcePenalty changes one source's state in a transaction; the row is locked (created
// first when absent) so that two nodes counting a failure of the same source at once both count.
func (s *Store) UpdateSourcePenalty(ctx context.Context, source string, fn func(*store.SourcePenalty) bool) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO source_penalties(source, until_at, active, strikes, last_at) VALUES ($1, 0, false, 0, 0)
			ON CONFLICT DO NOTHING`, source); err != nil {
			return err
		}
		var p store.SourcePenalty
		var until, last int64
		if err := tx.QueryRow(ctx, `SELECT until_at, active, strikes, last_at FROM source_penalties WHERE source=$1 FOR UPDATE`, source).
			Scan(&until, &p.Active, &p.Strikes, &last); err != nil {
			return err
		}
		if until != 0 || last != 0 {
			p.Until, p.Last = fromUnixNano(until), fromUnixNano(last)
		}
		if !fn(&p) {
			_, err := tx.Exec(ctx, `DELETE FROM source_penalties WHERE source=$1`, source)
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE source_penalties SET until_at=$2, active=$3, strikes=$4, last_at=$5 WHERE source=$1`,
			source, unixNano(p.Until), p.Active, p.Strikes, unixNano(p.Last))
		return err
	})
}

// ForgetSourcePenalties removes the states that ended before t.
func (s *Store) ForgetSourcePenalties(ctx context.Context, before time.Time) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM source_penalties WHERE until_at < $1 AND last_at < $1`, unixNano(before))
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
