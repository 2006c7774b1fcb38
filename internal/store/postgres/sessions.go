package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store"
)

const sessionCols = `id, account, kind, plugin, params, allowed, ip_from, port_from, ip_bastion, port_bastion, "user", host,
	ip_to, port_to, started_at, ended_at, exit_status, status, recording, sha256, size, bytes_in, bytes_out, comment, account_id, node`

const sessionPlaceholders = `$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26`

func scanSession(sc pgx.Row) (store.Session, error) {
	var s store.Session
	var started, ended int64
	err := sc.Scan(&s.ID, &s.Account, &s.Kind, &s.Plugin, &s.Params, &s.Allowed, &s.IPFrom, &s.PortFrom, &s.IPBastion, &s.PortBastion,
		&s.User, &s.Host, &s.IPTo, &s.PortTo, &started, &ended, &s.ExitStatus, &s.Status, &s.Recording, &s.SHA256, &s.Size,
		&s.BytesIn, &s.BytesOut, &s.Comment, &s.AccountID, &s.Node)
	s.StartedAt, s.EndedAt = fromUnixNano(started), fromUnixNano(ended)
	return s, err
}

func sessionArgs(s store.Session) []any {
	return []any{s.ID, s.Account, s.Kind, s.Plugin, s.Params, s.Allowed, s.IPFrom, s.PortFrom, s.IPBastion, s.PortBastion,
		s.User, s.Host, s.IPTo, s.PortTo, unixNano(s.StartedAt), unixNano(s.EndedAt), s.ExitStatus, s.Status, s.Recording,
		s.SHA256, s.Size, s.BytesIn, s.BytesOut, s.Comment, s.AccountID, s.Node}
}

// OpenSession inserts a session row.
func (s *Store) OpenSession(ctx context.Context, sess store.Session) error {
	if sess.Status == "" {
		sess.Status = "open"
	}
	if sess.Node == "" {
		sess.Node = s.node
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions(`+sessionCols+`) VALUES (`+sessionPlaceholders+`)`, sessionArgs(sess)...)
	if isUnique(err) {
		return store.ErrExists
	}
	return err
}

// CloseSession completes a session row in one transaction, the row locked.
func (s *Store) CloseSession(ctx context.Context, id string, fn func(*store.Session)) error {
	return s.tx(ctx, func(tx pgx.Tx) error {
		sess, err := scanSession(tx.QueryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id=$1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		fn(&sess)
		sess.ID = id
		if _, err := tx.Exec(ctx, `DELETE FROM sessions WHERE id=$1`, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO sessions(`+sessionCols+`) VALUES (`+sessionPlaceholders+`)`, sessionArgs(sess)...)
		return err
	})
}

// ListSessions returns sessions matching f, newest first.
func (s *Store) ListSessions(ctx context.Context, f store.SessionFilter) ([]store.Session, error) {
	q := `SELECT ` + sessionCols + ` FROM sessions WHERE true`
	var args []any
	arg := func(v any) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if f.Account != "" {
		q += " AND account=" + arg(f.Account)
	}
	if f.AccountID != "" {
		q += " AND account_id=" + arg(f.AccountID)
	}
	if f.ID != "" {
		q += " AND id=" + arg(f.ID)
	}
	if f.Kind != "" {
		q += " AND kind=" + arg(f.Kind)
	}
	if f.Host != "" {
		p := arg(f.Host)
		q += " AND (host=" + p + " OR ip_to=" + p + ")"
	}
	if f.User != "" {
		q += ` AND "user"=` + arg(f.User)
	}
	if !f.After.IsZero() {
		q += " AND started_at>=" + arg(f.After.UnixNano())
	}
	if !f.Before.IsZero() {
		q += " AND started_at<" + arg(f.Before.UnixNano())
	}
	if f.Allowed != nil {
		// A session still open has no verdict yet.
		q += " AND status!='open' AND allowed=" + arg(*f.Allowed)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY started_at DESC LIMIT " + arg(limit)
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.CollectableRow) (store.Session, error) { return scanSession(r) })
}

// MarkInterrupted closes the sessions this node left open when it died. The sessions open on
// the other nodes are alive: only this node's rows (its node name) are touched.
func (s *Store) MarkInterrupted(ctx context.Context, at time.Time) ([]store.Session, error) {
	var out []store.Session
	err := s.tx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+sessionCols+` FROM sessions WHERE status='open' AND node=$1 FOR UPDATE`, s.node)
		if err != nil {
			return err
		}
		out, err = collect(rows, func(r pgx.CollectableRow) (store.Session, error) { return scanSession(r) })
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE sessions SET status='interrupted', ended_at=$1, comment='gatehouse stopped during the session' WHERE status='open' AND node=$2`, unixNano(at), s.node)
		return err
	})
	return out, err
}
