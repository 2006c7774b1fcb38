package store

import (
	"context"
	"time"
)

// ApprovalRequest is one request of the approval factor as stored (internal/notify/approval's
// Record; internal/notifywire adapts one to the other).
type ApprovalRequest struct {
	ID                                 string // 128-bit random, hex
	Account, SourceIP, Target, Command string
	Bastion, Label                     string
	Created, Expires                   time.Time
	FourEyes                           bool
	Approvers                          []string
	// State is "pending", "approved", "denied" or "expired".
	State                              string
	DecidedBy, DecidedVia, DecidedChat string // approver account, "slack"/"link"/"timeout"…, chat identity
	DecidedAt                          time.Time
}

// Approvals keeps approval requests and the nonces of signed callbacks. Several bastion nodes
// sharing the store see one another's decisions.
type Approvals interface {
	// CreateApproval stores a new pending request (ErrExists when the id is taken) and forgets
	// requests that expired more than a day ago.
	CreateApproval(ctx context.Context, r ApprovalRequest) error
	// GetApproval returns a request, or ErrNotFound.
	GetApproval(ctx context.Context, id string) (ApprovalRequest, error)
	// FinishApproval moves a pending request to state (approved, denied or expired) with who and
	// when, as one compare-and-set: it changes the row only while it is pending and, unless state
	// is expired, while at is before its expiry. It returns the row as it is afterwards and
	// whether this call changed it; ErrNotFound when there is no such request.
	FinishApproval(ctx context.Context, id, state, by, via, chat string, at time.Time) (ApprovalRequest, bool, error)
	// RememberNonce records key until the given time and reports whether it was new (false: a
	// replay). Nonces past their time are forgotten.
	RememberNonce(ctx context.Context, key string, until time.Time) (bool, error)
	// AccountsWithSetting lists the accounts whose setting key has value (e.g. the account
	// mapped to a Slack user id).
	AccountsWithSetting(ctx context.Context, key, value string) ([]string, error)
}
