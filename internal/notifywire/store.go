package notifywire

import (
	"context"
	"errors"
	"fmt"

	"gatehouse/internal/audit"
	"gatehouse/internal/mfaauth"
	"gatehouse/internal/notify"
	"gatehouse/internal/notify/approval"
	"gatehouse/internal/store"
	"time"
)

// approvalStore is approval.Store over the SQL store (store.Approvals).
type approvalStore struct{ st store.Approvals }

var _ approval.Store = approvalStore{}

func stateName(s approval.State) string { return s.String() }

func parseState(s string) approval.State {
	switch s {
	case "pending":
		return approval.Pending
	case "approved":
		return approval.Approved
	case "denied":
		return approval.Denied
	}
	return approval.Expired // unknown stored values never count as approved
}

func toRecord(r store.ApprovalRequest) approval.Record {
	return approval.Record{ID: r.ID, Request: notify.Request{Account: r.Account, SourceIP: r.SourceIP, Target: r.Target, Command: r.Command},
		Bastion: r.Bastion, Label: r.Label, Created: r.Created, Expires: r.Expires, FourEyes: r.FourEyes, Approvers: r.Approvers,
		State: parseState(r.State), DecidedBy: approval.Approver{Account: r.DecidedBy, Via: r.DecidedVia, ChatUser: r.DecidedChat},
		DecidedAt: r.DecidedAt}
}

func (s approvalStore) Create(ctx context.Context, rec approval.Record) error {
	err := s.st.CreateApproval(ctx, store.ApprovalRequest{ID: rec.ID, Account: rec.Account, SourceIP: rec.SourceIP, Target: rec.Target,
		Command: rec.Command, Bastion: rec.Bastion, Label: rec.Label, Created: rec.Created, Expires: rec.Expires,
		FourEyes: rec.FourEyes, Approvers: rec.Approvers})
	if errors.Is(err, store.ErrExists) {
		return approval.ErrDuplicate
	}
	return err
}

func (s approvalStore) Get(ctx context.Context, id string) (approval.Record, error) {
	r, err := s.st.GetApproval(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return approval.Record{}, approval.ErrNotFound
	}
	if err != nil {
		return approval.Record{}, err
	}
	return toRecord(r), nil
}

// Finish is the store's compare-and-set; when it changed nothing, the current row says why.
func (s approvalStore) Finish(ctx context.Context, id string, state approval.State, by approval.Approver, at time.Time) (approval.Record, error) {
	if state != approval.Approved && state != approval.Denied && state != approval.Expired {
		return approval.Record{}, approval.ErrBadState
	}
	r, changed, err := s.st.FinishApproval(ctx, id, stateName(state), by.Account, by.Via, by.ChatUser, at)
	if errors.Is(err, store.ErrNotFound) {
		return approval.Record{}, approval.ErrNotFound
	}
	if err != nil {
		return approval.Record{}, err
	}
	rec := toRecord(r)
	switch {
	case changed:
		return rec, nil
	case rec.State == approval.Approved || rec.State == approval.Denied:
		return rec, approval.ErrDecided
	}
	return rec, approval.ErrExpired // expired, or still pending past its deadline
}

func (s approvalStore) Remember(ctx context.Context, key string, until time.Time) (bool, error) {
	return s.st.RememberNonce(ctx, key, until)
}

// slackUsers maps a Slack user to the account whose slack_user_id is "TEAM/USER" or "USER".
// Two accounts claiming the same user is a misconfiguration: nobody is recognised.
type slackUsers struct{ st store.Approvals }

func (u slackUsers) SlackAccount(ctx context.Context, teamID, userID string) (string, error) {
	if userID == "" {
		return "", approval.ErrUnknownUser
	}
	seen := map[string]bool{}
	for _, v := range []string{teamID + "/" + userID, userID} {
		names, err := u.st.AccountsWithSetting(ctx, mfaauth.SettingSlackUserID, v)
		if err != nil {
			return "", err
		}
		for _, n := range names {
			seen[n] = true
		}
	}
	if len(seen) != 1 {
		if len(seen) > 1 {
			return "", fmt.Errorf("%w: %d accounts claim this Slack user", approval.ErrUnknownUser, len(seen))
		}
		return "", approval.ErrUnknownUser
	}
	for n := range seen {
		return n, nil
	}
	return "", approval.ErrUnknownUser
}

// observer reports approval outcomes to the audit log: who decided (the approver's account and
// chat identity), and every refused attempt.
type observer struct{ w *Wire }

// The decision is stored before it is reported, and the waiting session's own pass is what fails
// closed (mfaauth): these events can only be reported, a failure counted and alerted by the log.
func (o observer) Decided(ctx context.Context, rec approval.Record) {
	_ = o.w.auditEvent(ctx, "approval.decided", audit.Fields{Account: rec.Account, IPFrom: rec.SourceIP, Extra: map[string]string{
		"request": rec.ID, "label": rec.Label, "target": rec.Target, "command": rec.Command, "state": rec.State.String(),
		"approver": rec.DecidedBy.Account, "via": rec.DecidedBy.Via, "chat_user": rec.DecidedBy.ChatUser}})
}

func (o observer) Refused(ctx context.Context, id string, act approval.Action, by approval.Approver, err error) {
	_ = o.w.auditEvent(ctx, "approval.refused", audit.Fields{Extra: map[string]string{"request": id, "action": act.String(),
		"approver": by.Account, "via": by.Via, "chat_user": by.ChatUser, "reason": err.Error()}})
}

// auditEvent appends one event through Options.AppendAudit, or logs it when that is nil.
func (w *Wire) auditEvent(ctx context.Context, typ string, f audit.Fields) error {
	if w.appendAudit != nil {
		return w.appendAudit(ctx, audit.Event{Type: typ, Fields: f})
	}
	args := []any{"account", f.Account, "ip_from", f.IPFrom}
	for k, v := range f.Extra {
		args = append(args, k, v)
	}
	w.log.InfoContext(ctx, typ, args...)
	return nil
}
