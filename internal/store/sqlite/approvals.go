package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/store"
)

var _ store.Approvals = (*Store)(nil)

// approvalRetention is how long a request is kept after it expired (for a late click to be
// told "expired" rather than "unknown", and for support); the audit log keeps the outcome.
const approvalRetention = 24 * time.Hour

const approvalColumns = `id, account, source_ip, target, command, bastion, label, created_at, expires_at,
	four_eyes, approvers, state, decided_by, decided_via, decided_chat, decided_at`

// CreateApproval stores a new pending request and prunes old ones.
func (s *Store) CreateApproval(ctx context.Context, r store.ApprovalRequest) error {
	if r.ID == "" || r.Account == "" {
		return errors.New("store: approval request without id or account")
	}
	approvers, err := json.Marshal(r.Approvers)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.in(tx).ExecContext(ctx, `DELETE FROM approval_requests WHERE expires_at < ?`,
			unixNano(time.Now().Add(-approvalRetention))); err != nil {
			return err
		}
		_, err := s.in(tx).ExecContext(ctx, `INSERT INTO approval_requests(`+approvalColumns+`)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,'pending','','','',0)`,
			r.ID, r.Account, r.SourceIP, r.Target, r.Command, r.Bastion, r.Label, unixNano(r.Created), unixNano(r.Expires),
			b2i(r.FourEyes), string(approvers))
		if isUnique(err) {
			return store.ErrExists
		}
		return err
	})
}

func scanApproval(sc interface{ Scan(...any) error }) (store.ApprovalRequest, error) {
	var (
		r                           store.ApprovalRequest
		created, expires, decidedAt int64
		fourEyes                    int
		approvers                   string
	)
	err := sc.Scan(&r.ID, &r.Account, &r.SourceIP, &r.Target, &r.Command, &r.Bastion, &r.Label, &created, &expires,
		&fourEyes, &approvers, &r.State, &r.DecidedBy, &r.DecidedVia, &r.DecidedChat, &decidedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return r, store.ErrNotFound
	}
	if err != nil {
		return r, err
	}
	r.Created, r.Expires, r.DecidedAt, r.FourEyes = fromUnixNano(created), fromUnixNano(expires), fromUnixNano(decidedAt), fourEyes == 1
	if approvers != "" {
		if err := json.Unmarshal([]byte(approvers), &r.Approvers); err != nil {
			return r, fmt.Errorf("approval %s: bad approvers: %w", r.ID, err)
		}
	}
	return r, nil
}

// GetApproval reads one request.
func (s *Store) GetApproval(ctx context.Context, id string) (store.ApprovalRequest, error) {
	return scanApproval(s.pool().QueryRowContext(ctx, `SELECT `+approvalColumns+` FROM approval_requests WHERE id = ?`, id))
}

// FinishApproval is the compare-and-set pending → state.
func (s *Store) FinishApproval(ctx context.Context, id, state, by, via, chat string, at time.Time) (store.ApprovalRequest, bool, error) {
	switch state {
	case "approved", "denied", "expired":
	default:
		return store.ApprovalRequest{}, false, fmt.Errorf("store: invalid approval state %q", state)
	}
	res, err := s.pool().ExecContext(ctx, `UPDATE approval_requests
		SET state = ?, decided_by = ?, decided_via = ?, decided_chat = ?, decided_at = ?
		WHERE id = ? AND state = 'pending' AND (? = 'expired' OR expires_at > ?)`,
		state, by, via, chat, unixNano(at), id, state, unixNano(at))
	if err != nil {
		return store.ApprovalRequest{}, false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return store.ApprovalRequest{}, false, err
	}
	r, err := s.GetApproval(ctx, id)
	return r, n == 1 && err == nil, err
}

// RememberNonce inserts key unless it is already there and still valid.
func (s *Store) RememberNonce(ctx context.Context, key string, until time.Time) (bool, error) {
	fresh := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := unixNano(time.Now())
		if _, err := s.in(tx).ExecContext(ctx, `DELETE FROM approval_nonces WHERE until_at <= ?`, now); err != nil {
			return err
		}
		res, err := s.in(tx).ExecContext(ctx, `INSERT INTO approval_nonces(key, until_at) VALUES (?, ?) ON CONFLICT(key) DO NOTHING`, key, unixNano(until))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		fresh = n == 1
		return err
	})
	return fresh, err
}

// AccountsWithSetting lists the accounts whose setting key equals value.
func (s *Store) AccountsWithSetting(ctx context.Context, key, value string) ([]string, error) {
	rows, err := s.pool().QueryContext(ctx, `SELECT account FROM account_settings WHERE key = ? AND value = ? ORDER BY account`, key, value)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var a string
		if err := rows.Scan(&a); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
