package web

import "github.com/prometheus/client_golang/prometheus"

// OpsMetrics are the counters operators alert on besides the server's: second factors refused
// by reason (locked, rate-limited…), approvals decided by outcome. MFA passes and failures by
// factor are gatehouse_mfa_total; recording bytes and errors, the audit log's write failures
// and the per-source refusals are registered with their parts.
type OpsMetrics struct {
	MFARefused       *prometheus.CounterVec // factor, reason
	ApprovalsDecided *prometheus.CounterVec // state: approved, denied, expired
}

// OpsGauges are read at each scrape; a nil one is not exported.
type OpsGauges struct {
	// MFALockedAccounts: accounts with a factor locked now (faillock, or until accountUnlock).
	MFALockedAccounts func() float64
	// ApprovalsPending: approval requests waiting for a decision.
	ApprovalsPending func() float64
	// AuditLastSignedSeq: seq of the last signed checkpoint of the audit log; a value that
	// stops moving while events flow means checkpoints are not written.
	AuditLastSignedSeq func() float64
}

// RegisterOps registers the operators' counters and gauges.
func (m *Metrics) RegisterOps(g OpsGauges) *OpsMetrics {
	o := &OpsMetrics{
		MFARefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_mfa_refused_total",
			Help: "Second-factor challenges ended without access, by factor and reason (locked, rate-limited, aborted, …)."}, []string{"factor", "reason"}),
		ApprovalsDecided: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gatehouse_approvals_decided_total",
			Help: "Approval requests that reached a decision, by outcome (approved, denied, expired)."}, []string{"state"}),
	}
	m.Registry.MustRegister(o.MFARefused, o.ApprovalsDecided)
	for _, gf := range []struct {
		name, help string
		f          func() float64
	}{
		{"gatehouse_mfa_locked_accounts", "Accounts with a second factor locked now after repeated failures.", g.MFALockedAccounts},
		{"gatehouse_approvals_pending", "Approval requests waiting for a decision.", g.ApprovalsPending},
		{"gatehouse_audit_last_signed_seq", "Sequence number of the audit log's last signed checkpoint.", g.AuditLastSignedSeq},
	} {
		if gf.f != nil {
			m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: gf.name, Help: gf.help}, gf.f))
		}
	}
	return o
}
