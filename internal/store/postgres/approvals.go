package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/store"
)

var _ store.Approvals = (*Store)(nil)

// approvalRetention is how long a request is kept after it expired (as in the SQLite store).
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
	return s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM approval_requests WHERE expires_at < $1`,
			unixNano(time.Now().Add(-approvalRetention))); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO approval_requests(`+approvalColumns+`)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,'pending','','','',0)`,
			r.ID, r.Account, r.SourceIP, r.Target, r.Command, r.Bastion, r.Label, unixNano(r.Created), unixNano(r.Expires),
			r.FourEyes, string(approvers))
		if isUnique(err) {
			return store.ErrExists
		}
		return err
	})
}

func scanApproval(sc pgx.Row) (store.ApprovalRequest, error) {
	var (
		r                           store.ApprovalRequest
		created, expires, decidedAt int64
		approvers                   string
	)
	err := sc.Scan(&r.ID, &r.Account, &r.SourceIP, &r.Target, &r.Command, &r.Bastion, &r.Label, &created, &expires,
		&r.FourEyes, &approvers, &r.State, &r.DecidedBy, &r.DecidedVia, &r.DecidedChat, &decidedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, store.ErrNotFound
	}
	if err != nil {
		return r, err
	}
	r.Created, r.Expires, r.DecidedAt = fromUnixNano(created), fromUnixNano(expires), fromUnixNano(decidedAt)
	if approvers != "" {
		if err := json.Unmarshal([]byte(approvers), &r.Approvers); err != nil {
			return r, fmt.Errorf("approval %s: bad approvers: %w", r.ID, err)
		}
	}
	return r, nil
}

// GetApproval reads one request.
func (s *Store) GetApproval(ctx context.Context, id string) (store.ApprovalRequest, error) {
	return scanApproval(s.pool.QueryRow(ctx, `SELECT `+approvalColumns+` FROM approval_requests WHERE id = $1`, id))
}

// FinishApproval is the compare-and-set pending → state.
func (s *Store) FinishApproval(ctx context.Context, id, state, by, via, chat string, at time.Time) (store.ApprovalRequest, bool, error) {
	switch state {
	case "approved", "denied", "expired":
	default:
		return store.ApprovalRequest{}, false, fmt.Errorf("store: invalid approval state %q", state)
	}
	changed, err := affected(s.pool.Exec(ctx, `UPDATE approval_requests
		SET state = $1, decided_by = $2, decided_via = $3, decided_chat = $4, decided_at = $5
		WHERE id = $6 AND state = 'pending' AND ($1 = 'expired' OR expires_at > $5)`,
		state, by, via, chat, unixNano(at), id))
	if err != nil {
		return store.ApprovalRequest{}, false, err
	}
	r, err := s.GetApproval(ctx, id)
	return r, changed && err == nil, err
}

// RememberNonce inserts key unless it is already there and still valid.
func (s *Store) RememberNonce(ctx context.Context, key string, until time.Time) (bool, error) {
	fresh := false
	err := s.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM approval_nonces WHERE until_at <= $1`, unixNano(time.Now())); err != nil {
			return err
		}
		var err error
		fresh, err = affected(tx.Exec(ctx, `INSERT INTO approval_nonces(key, until_at) VALUES ($1, $2) ON CONFLICT(key) DO NOTHING`, key, unixNano(until)))
		return err
	})
	return fresh, err
}

// AccountsWithSetting lists the accounts whose setting key equals value.
func (s *Store) AccountsWithSetting(ctx context.Context, key, value string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT account FROM account_settings WHERE key = $1 AND value = $2 ORDER BY account`, key, value)
	if err != nil {
		return nil, err
	}
	return collect(rows, pgx.RowTo[string])
}
