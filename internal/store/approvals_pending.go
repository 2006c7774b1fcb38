package store

import (
	"context"
	"time"
)

// PendingApprovals is implemented by the stores that can list the approval requests still
// waiting (SQLite and PostgreSQL): the web console's Approvals page. It is kept out of Store so
// that a store without it only loses that page.
type PendingApprovals interface {
	// PendingApprovals lists the requests pending and not expired at now, oldest first, at most limit.
	PendingApprovals(ctx context.Context, now time.Time, limit int) ([]ApprovalRequest, error)
}
