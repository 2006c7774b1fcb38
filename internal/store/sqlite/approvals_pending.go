package sqlite

import (
	"context"
	"time"

	"gatehouse/internal/store"
)

// PendingApprovals lists the requests still pending and not expired at now, oldest first
// (store.PendingApprovals; the web console's Approvals page).
func (s *Store) PendingApprovals(ctx context.Context, now time.Time, limit int) ([]store.ApprovalRequest, error) {
	rows, err := s.pool().QueryContext(ctx, `SELECT `+approvalColumns+` FROM approval_requests
		WHERE state = 'pending' AND expires_at > ? ORDER BY created_at, id LIMIT ?`, unixNano(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.ApprovalRequest
	for rows.Next() {
		r, err := scanApproval(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
