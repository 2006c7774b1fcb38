package console

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"gatehouse/internal/audit"
	"gatehouse/internal/notify/approval"
	"gatehouse/internal/store"
)

// Decider applies a decision with the approval factor's own rules (four eyes, approver binding,
// expiry) and wakes the waiting login: internal/notify/approval's Manager.
type Decider interface {
	Decide(ctx context.Context, id string, act approval.Action, by approval.Approver) (approval.Record, error)
}

// ApprovalRights says what the viewer may do with a request made by requester and bound to
// approvers (empty: not bound). Nobody approves their own request, whatever four_eyes says (one
// may withdraw it: deny); a bound request is for its approvers only, auditors included; an
// unbound one is for admins in the console (a chat link bound to nobody is not a rule to widen).
func ApprovalRights(v Viewer, requester string, approvers []string) (see, approve, deny bool) {
	if v.Account == "" {
		return false, false, false
	}
	if v.Account == requester {
		return true, false, true
	}
	if len(approvers) > 0 {
		ok := slices.Contains(approvers, v.Account)
		return ok, ok, ok
	}
	return v.Roles.Admin, v.Roles.Admin, v.Roles.Admin
}

// ApprovalRow is one pending request as the page shows it.
type ApprovalRow struct {
	store.ApprovalRequest
	Approve, Deny bool
}

func (c *Console) approvalsPage(w http.ResponseWriter, r *http.Request, q *request) {
	lister, ok := c.o.Store.(store.PendingApprovals)
	if !ok || c.o.Approvals == nil {
		c.fail(w, r, http.StatusNotFound, "Approvals are not available on this bastion.")
		return
	}
	pending, err := lister.PendingApprovals(r.Context(), c.o.Now(), 200)
	if err != nil {
		c.o.Log.Error("console: pending approvals", "err", err)
		c.fail(w, r, http.StatusInternalServerError, "The approvals could not be listed.")
		return
	}
	var rows []ApprovalRow
	for _, p := range pending {
		if see, approve, deny := ApprovalRights(q.Viewer, p.Account, p.Approvers); see {
			rows = append(rows, ApprovalRow{ApprovalRequest: p, Approve: approve, Deny: deny})
		}
	}
	c.render(w, r, http.StatusOK, "approvals.html", q, map[string]any{"Title": "Approvals", "Rows": rows, "Done": r.URL.Query().Get("done")})
}

func (c *Console) decide(w http.ResponseWriter, r *http.Request, q *request) {
	if c.o.Approvals == nil {
		c.fail(w, r, http.StatusNotFound, "Approvals are not available on this bastion.")
		return
	}
	id := r.PathValue("id")
	var act approval.Action
	switch r.PostFormValue("action") {
	case "approve":
		act = approval.Approve
	case "deny":
		act = approval.Deny
	default:
		c.fail(w, r, http.StatusBadRequest, "The action is approve or deny.")
		return
	}
	rec, err := c.o.Store.GetApproval(r.Context(), id)
	if err != nil {
		c.fail(w, r, http.StatusNotFound, "No such request.")
		return
	}
	_, approve, deny := ApprovalRights(q.Viewer, rec.Account, rec.Approvers)
	if (act == approval.Approve && !approve) || (act == approval.Deny && !deny) {
		_ = c.audit(r.Context(), "web.approval", audit.Fields{Account: q.Account.Name, Result: "refused", Extra: map[string]string{"request": id, "action": act.String(), "reason": "not an approver of this request"}}) // refused either way
		c.fail(w, r, http.StatusForbidden, "You may not "+act.String()+" this request.")
		return
	}
	_, err = c.o.Approvals.Decide(r.Context(), id, act, approval.Approver{Account: q.Account.Name, Via: "web"})
	if err != nil {
		status := http.StatusConflict
		switch {
		case errors.Is(err, approval.ErrFourEyes), errors.Is(err, approval.ErrNotApprover), errors.Is(err, approval.ErrUnidentified):
			status = http.StatusForbidden
		case errors.Is(err, approval.ErrExpired):
			status = http.StatusGone
		}
		_ = c.audit(r.Context(), "web.approval", audit.Fields{Account: q.Account.Name, Result: "refused", Extra: map[string]string{"request": id, "action": act.String(), "reason": err.Error()}}) // refused either way
		c.fail(w, r, status, "Not done: "+err.Error())
		return
	}
	_ = c.audit(r.Context(), "web.approval", audit.Fields{Account: q.Account.Name, Result: "ok", Extra: map[string]string{"request": id, "requester": rec.Account, "action": act.String()}}) // after the fact: the decision is stored; the log counts and alerts a failure
	http.Redirect(w, r, "/approvals?done="+act.String(), http.StatusSeeOther)
}
