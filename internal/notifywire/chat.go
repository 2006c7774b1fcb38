package notifywire

import (
	"context"
	"slices"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/mfaauth"
	"gatehouse/internal/notify"
	"gatehouse/internal/notify/approval"
)

func request(r mfaauth.ChatRequest) notify.Request {
	return notify.Request{Account: r.Account, SourceIP: r.SourceIP, Target: r.Target, Command: r.Command}
}

func (w *Wire) codeChannels(r mfaauth.ChatRequest) []string {
	return channelsFor(&w.n, r.Groups, w.n.Codes)
}

func (w *Wire) approvalChannels(r mfaauth.ChatRequest) []string {
	return channelsFor(&w.n, r.Groups, w.n.Approvals)
}

// Available: the webhook code needs a channel; the approval also needs the approval listener
// (without it neither Slack's buttons nor the links can reach the bastion).
func (w *Wire) Available(_ context.Context, r mfaauth.ChatRequest) policy.Factors {
	var f policy.Factors
	if len(w.codeChannels(r)) > 0 {
		f |= policy.Webhook
	}
	if w.approvable(w.approvalChannels(r)) {
		f |= policy.Approval
	}
	return f
}

// approvable: some channel can carry a decision back — a link (any channel but Slack, which
// shows buttons) through the listener, or Slack's buttons when the signing secret is set.
func (w *Wire) approvable(names []string) bool {
	if w.links == nil {
		return false
	}
	for _, n := range names {
		if w.n.Channels[n].Kind != "slack" || w.slack != nil {
			return true
		}
	}
	return false
}

// sendTimeout is the longest timeout of the channels named (default 10 s each): the factor
// waits that long at most for every channel to accept.
func (w *Wire) sendTimeout(names []string) time.Duration {
	d := notify.DefaultSendTimeout
	for _, n := range names {
		d = max(d, config.Duration(w.n.Channels[n].Timeout, 0))
	}
	return d
}

// StartCode posts a new code to the request's channels.
func (w *Wire) StartCode(ctx context.Context, r mfaauth.ChatRequest) (*notify.CodeChallenge, error) {
	names := w.codeChannels(r)
	f, err := notify.NewCodeFactor(notify.CodeConfig{Channels: w.senderList(names), Delivery: w.delivery,
		Digits: w.n.Code.Digits, TTL: config.Duration(w.n.Code.TTL, notify.DefaultCodeTTL), SendTimeout: w.sendTimeout(names),
		Bastion: w.bastion, Now: w.now, Logger: w.log})
	if err != nil {
		return nil, err
	}
	return f.Start(ctx, request(r))
}

// StartApproval posts an approval request to the request's channels. Its lifetime is the
// configured TTL, shortened to r.MaxWait (the login grace time at the immediate stage) so that
// the message never promises more time than the user has.
func (w *Wire) StartApproval(ctx context.Context, r mfaauth.ChatRequest) (approval.Record, error) {
	names := w.approvalChannels(r)
	ttl := config.Duration(w.n.Approval.TTL, notify.DefaultCodeTTL)
	if r.MaxWait > 0 {
		ttl = min(ttl, r.MaxWait)
	}
	// A sudo on a target approved by its own requester would be no second pair of eyes:
	// the PAM stage is always four eyes.
	p := approval.Policy{Delivery: w.delivery, FourEyes: w.n.Approval.FourEyes || r.Stage == "pam", Approvers: w.approvers(r), TTL: ttl}
	for _, n := range names {
		if s, ok := w.senders[n]; ok {
			p.Channels = append(p.Channels, approval.Channel{Sender: s, Approver: w.n.Channels[n].Approver})
		}
	}
	if !w.approvable(names) {
		return approval.Record{}, notify.ErrNoChannel
	}
	return w.manager.Start(ctx, request(r), p)
}

// approvers are the accounts that may decide r: [notify.approval] approvers and those of the
// request's groups ([notify.groups.G] approvers); none: whoever the deciding channel identifies
// (a mapped Slack user; an admin in the console).
func (w *Wire) approvers(r mfaauth.ChatRequest) []string {
	out := slices.Clone(w.n.Approval.Approvers)
	for _, g := range r.Groups {
		for _, a := range w.n.Groups[g].Approvers {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// WaitApproval waits for the decision.
func (w *Wire) WaitApproval(ctx context.Context, id string, tick func(time.Duration)) (approval.Record, error) {
	return w.manager.Wait(ctx, id, tick)
}

// GetApproval reads a request's state without waiting (the PAM endpoint polls it).
func (w *Wire) GetApproval(ctx context.Context, id string) (approval.Record, error) {
	return w.manager.Get(ctx, id)
}

// Fallback is the configured fallback factor.
func (w *Wire) Fallback() policy.Fallback { return w.fallback }
