package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"gatehouse/internal/store"
)

const sessionCols = `id, account, kind, plugin, params, allowed, ip_from, port_from, ip_bastion, port_bastion, user, host,
	ip_to, port_to, started_at, ended_at, exit_status, status, recording, sha256, size, bytes_in, bytes_out, comment, account_id`

func scanSession(sc interface{ Scan(...any) error }) (store.Session, error) {
	var s store.Session
	var allowed int
	var started, ended int64
	err := sc.Scan(&s.ID, &s.Account, &s.Kind, &s.Plugin, &s.Params, &allowed, &s.IPFrom, &s.PortFrom, &s.IPBastion, &s.PortBastion,
		&s.User, &s.Host, &s.IPTo, &s.PortTo, &started, &ended, &s.ExitStatus, &s.Status, &s.Recording, &s.SHA256, &s.Size,
		&s.BytesIn, &s.BytesOut, &s.Comment, &s.AccountID)
	s.Allowed, s.StartedAt, s.EndedAt = allowed == 1, fromUnixNano(started), fromUnixNano(ended)
	return s, err
}

func sessionArgs(s store.Session) []any {
	return []any{s.ID, s.Account, s.Kind, s.Plugin, s.Params, b2i(s.Allowed), s.IPFrom, s.PortFrom, s.IPBastion, s.PortBastion,
		s.User, s.Host, s.IPTo, s.PortTo, unixNano(s.StartedAt), unixNano(s.EndedAt), s.ExitStatus, s.Status, s.Recording,
		s.SHA256, s.Size, s.BytesIn, s.BytesOut, s.Comment, s.AccountID}
}

// OpenSession inserts a session row.
func (s *Store) OpenSession(ctx context.Context, sess store.Session) error {
	if sess.Status == "" {
		sess.Status = "open"
	}
	_, err := s.pool().ExecContext(ctx, `INSERT INTO sessions(`+sessionCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, sessionArgs(sess)...)
	if isUnique(err) {
		return store.ErrExists
	}
	return err
}

// CloseSession completes a session row in one transaction.
func (s *Store) CloseSession(ctx context.Context, id string, fn func(*store.Session)) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		sess, err := scanSession(s.in(tx).QueryRowContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE id=?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		fn(&sess)
		sess.ID = id
		_, err = s.in(tx).ExecContext(ctx, `DELETE FROM sessions WHERE id=?`, id)
		if err != nil {
			return err
		}
		_, err = s.in(tx).ExecContext(ctx, `INSERT INTO sessions(`+sessionCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, sessionArgs(sess)...)
		return err
	})
}

// ListSessions returns sessions matching f, newest first.
func (s *Store) ListSessions(ctx context.Context, f store.SessionFilter) ([]store.Session, error) {
	q := `SELECT ` + sessionCols + ` FROM sessions WHERE 1=1`
	var args []any
	add := func(cond string, v any) { q += " AND " + cond; args = append(args, v) }
	if f.Account != "" {
		add("account=?", f.Account)
	}
	if f.AccountID != "" {
		add("account_id=?", f.AccountID)
	}
	if f.ID != "" {
		add("id=?", f.ID)
	}
	if f.Kind != "" {
		add("kind=?", f.Kind)
	}
	if f.Host != "" {
		q += " AND (host=? OR ip_to=?)"
		args = append(args, f.Host, f.Host)
	}
	if f.User != "" {
		add("user=?", f.User)
	}
	if !f.After.IsZero() {
		add("started_at>=?", f.After.UnixNano())
	}
	if !f.Before.IsZero() {
		add("started_at<?", f.Before.UnixNano())
	}
	if f.Allowed != nil {
		// A session still open has no verdict yet.
		add("status!='open' AND allowed=?", b2i(*f.Allowed))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY started_at DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.pool().QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Session
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, sess)
	}
	return out, rows.Err()
}

// MarkInterrupted closes the sessions a dead gatehouse left open.
func (s *Store) MarkInterrupted(ctx context.Context, at time.Time) ([]store.Session, error) {
	var out []store.Session
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := s.in(tx).QueryContext(ctx, `SELECT `+sessionCols+` FROM sessions WHERE status='open'`)
		if err != nil {
			return err
		}
		for rows.Next() {
			sess, err := scanSession(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, sess)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		_, err = s.in(tx).ExecContext(ctx, `UPDATE sessions SET status='interrupted', ended_at=?, comment='gatehouse stopped during the session' WHERE status='open'`, unixNano(at))
		return err
	})
	return out, err
}
