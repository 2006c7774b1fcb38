package app

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/web"
)

// opsMetrics holds what the operators' metrics read between events.
type opsMetrics struct {
	counters   *web.OpsMetrics
	lastSigned atomic.Uint64 // seq of the audit log's last signed checkpoint
}

// Emit implements audit.Sink: it keeps the seq of each signed checkpoint (the audit log hands
// its sinks an audit.checkpoint event for each), and nothing else.
func (o *opsMetrics) Emit(ev audit.Event) error {
	if ev.Type != audit.TypeAuditCheckpoint {
		return nil
	}
	if seq, err := strconv.ParseUint(ev.Fields.Extra["seq"], 10, 64); err == nil {
		o.lastSigned.Store(seq)
	}
	return nil
}

// registerOpsMetrics exports the operators' gauges; gauges that read the store give up after a
// second so that a slow store never hangs a scrape.
func (a *App) registerOpsMetrics() {
	count := func(f func(context.Context) (int, error)) func() float64 {
		return func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			n, err := f(ctx)
			if err != nil {
				return -1 // seen as an anomaly rather than as "none"
			}
			return float64(n)
		}
	}
	g := web.OpsGauges{AuditLastSignedSeq: func() float64 { return float64(a.ops.lastSigned.Load()) }}
	// The counts are the SQLite store's (internal/store/sqlite/ops.go); a store without them
	// exports neither gauge rather than a false zero.
	if oc, ok := a.Store.(opsCounts); ok {
		g.MFALockedAccounts = count(func(ctx context.Context) (int, error) {
			// A lock older than MFALockUnlockTime has run out (faillock's unlock_time).
			var since time.Time
			if u := a.Config().MFALockUnlockTime; u > 0 {
				since = a.Env.Now().Add(-time.Duration(u) * time.Second)
			}
			return oc.CountMFALockedAccounts(ctx, since)
		})
		g.ApprovalsPending = count(func(ctx context.Context) (int, error) { return oc.CountPendingApprovals(ctx, time.Now()) })
	}
	a.ops.counters = a.Metrics.RegisterOps(g)
}

// opsCounts are the store's answers to the operators' gauges.
type opsCounts interface {
	CountMFALockedAccounts(ctx context.Context, since time.Time) (int, error)
	CountPendingApprovals(ctx context.Context, now time.Time) (int, error)
}

// countOps counts the audit events operators alert on: refused second factors by reason, and
// decided approvals by outcome. Labels come from fixed sets so that no free text (an internal
// error's message) makes a new series.
func (a *App) countOps(typ string, f audit.Fields) {
	if a.ops.counters == nil {
		return
	}
	switch typ {
	case "mfa.refused":
		reason, _, _ := strings.Cut(f.Extra["reason"], ":")
		if !knownRefusal[reason] {
			reason = "other"
		}
		a.ops.counters.MFARefused.WithLabelValues(labelOrNil(f.Factor), reason).Inc()
	case "mfa.enrolment_done":
		factor := map[string]string{"selfMFASetupTOTP": "totp", "selfMFASetupPassword": "password"}[f.Extra["command"]]
		if factor == "" {
			return
		}
		result := "not_enrolled"
		if code := f.Extra["error_code"]; strings.HasPrefix(code, "OK") && code != "OK_NO_CHANGE" {
			result = "enrolled"
		}
		a.ops.counters.Enrolments.WithLabelValues(factor, result).Inc()
	case "approval.decided":
		state := f.Extra["state"]
		if state == "approved" || state == "denied" || state == "expired" {
			a.ops.counters.ApprovalsDecided.WithLabelValues(state).Inc()
		}
	}
}

var knownRefusal = map[string]bool{"failed": true, "rate-limited": true, "locked": true, "answer-too-long": true,
	"aborted": true, "password-blocked": true, "internal": true}
