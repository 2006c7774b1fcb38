package notifywire

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/notify"
)

// Defaults of [notify.alerts].
const (
	DefaultMFAFailureThreshold = 5
	DefaultMFAFailureWindow    = 10 * time.Minute
	// DefaultAlertCoalesce holds back repeats of an alert for 10 minutes (coalesce_window).
	DefaultAlertCoalesce = 10 * time.Minute
)

// grantCommands are the commands that give an access or a right: each success is a
// "grant_given" alert.
var grantCommands = []string{"accountGrantCommand", "accountAddPersonalAccess", "selfAddPersonalAccess",
	"groupAddMember", "groupAddGuestAccess", "groupAddServer", "groupSetServers", "groupTransmitOwnership"}

// AlertRoutes returns, per alert channel, the kinds it carries: the routed kinds
// ([notify.alerts.routes]) to their channels, the other chosen kinds (kinds, empty: all) to the
// default channels.
func AlertRoutes(a config.NotifyAlerts) map[string][]string {
	chosen := a.Kinds
	if len(chosen) == 0 {
		chosen = config.AlertKinds
	}
	out := map[string][]string{}
	add := func(ch, k string) {
		if !slices.Contains(out[ch], k) {
			out[ch] = append(out[ch], k)
		}
	}
	for _, k := range config.AlertKinds {
		if chans, routed := a.Routes[k]; routed {
			for _, ch := range chans {
				add(ch, k)
			}
			continue
		}
		if slices.Contains(chosen, k) {
			for _, ch := range a.Channels {
				add(ch, k)
			}
		}
	}
	return out
}

func (w *Wire) newAlerter() {
	a := w.n.Alerts
	names := make([]string, 0)
	routes := AlertRoutes(a)
	for ch := range routes {
		names = append(names, ch)
	}
	slices.Sort(names)
	// One alerter per channel, each with its kinds; every alerter has its own bounded queue and
	// worker, as one alerter has per channel.
	for _, ch := range names {
		var kinds []notify.AlertKind
		for _, k := range routes[ch] {
			kinds = append(kinds, notify.AlertKind(k))
		}
		w.alerters = append(w.alerters, notify.NewAlerter(notify.AlerterConfig{Channels: w.senderList([]string{ch}), Kinds: kinds,
			QueueSize: a.QueueSize, Bastion: w.bastion, Logger: w.log,
			Coalesce: config.Duration(a.CoalesceWindow, DefaultAlertCoalesce), Now: w.now}))
	}
	threshold := a.MFAFailureThreshold
	if threshold == 0 {
		threshold = DefaultMFAFailureThreshold
	}
	w.alertsOn = len(w.alerters) > 0
	w.failures = &notify.FailureCounter{Threshold: threshold, Window: config.Duration(a.MFAFailureWindow, DefaultMFAFailureWindow)}
}

// tap is one event heard on the user's path, turned into an alert (or not) by consumeTaps.
type tap struct {
	kind    string // "login", "mfa_failure", "alert"
	alert   notify.Alert
	account string
}

// push queues t without ever blocking: a full queue drops and counts.
func (w *Wire) push(t tap) {
	if !w.alertsOn {
		return // no alert channel: nothing to do
	}
	select {
	case w.taps <- t:
	default:
		w.tapDrops.Add(1)
	}
}

// LoginSucceeded hears every completed SSH authentication; an admin's becomes an alert.
func (w *Wire) LoginSucceeded(account, sourceIP string) {
	w.push(tap{kind: "login", account: account, alert: notify.Alert{Kind: notify.AlertAdminLogin,
		Request: notify.Request{Account: account, SourceIP: sourceIP}, At: w.now()}})
}

// AuditEvent hears the audit events (MFA): failures are counted per account, and reaching the
// threshold within the window is an alert.
func (w *Wire) AuditEvent(ev audit.Event) {
	if ev.Type != "mfa.fail" && ev.Type != "mfa.refused" {
		return
	}
	account := ev.Fields.Account
	if account == "" {
		return
	}
	w.push(tap{kind: "mfa_failure", account: account, alert: notify.Alert{Kind: notify.AlertMFAFailures,
		Request: notify.Request{Account: account, SourceIP: ev.Fields.IPFrom}, At: w.now()}})
}

// ConnectionEvent hears the connector's events: refusals and changed host keys are alerts.
func (w *Wire) ConnectionEvent(ev audit.Event) {
	typ, f := ev.Type, ev.Fields
	req := notify.Request{Account: f.Account, SourceIP: f.IPFrom, Target: fmt.Sprintf("%s@%s:%d", f.User, f.HostTo, f.PortTo)}
	switch {
	case typ == "connection.denied":
		detail := f.Extra["error_code"]
		if c := f.Comment; c != "" {
			detail += ": " + c
		}
		w.push(tap{kind: "alert", alert: notify.Alert{Kind: notify.AlertAccessRefused, Request: req, Detail: detail, At: w.now()}})
	case strings.HasPrefix(typ, "hostkey.changed"):
		w.push(tap{kind: "alert", alert: notify.Alert{Kind: notify.AlertHostKeyChanged, Request: req,
			Detail: fmt.Sprintf("%s: presented %s (%s)", f.Extra["hostport"], f.Extra["fingerprint"], strings.TrimPrefix(typ, "hostkey.")), At: w.now()}})
	}
}

// CommandDone hears every --osh command: a refused restricted command is an access refused, a
// created account and a grant are alerts. args are already masked.
func (w *Wire) CommandDone(account, sourceIP, cmd string, args []string, code string) {
	req := notify.Request{Account: account, SourceIP: sourceIP, Command: strings.TrimSpace(cmd + " " + strings.Join(args, " "))}
	ok := strings.HasPrefix(code, "OK")
	var kind notify.AlertKind
	switch {
	case code == "KO_RESTRICTED_COMMAND" || code == "KO_ACCESS_DENIED":
		kind = notify.AlertAccessRefused
	case ok && cmd == "accountCreate":
		kind = notify.AlertAccountCreated
	case ok && slices.Contains(grantCommands, cmd):
		kind = notify.AlertGrantGiven
	default:
		return
	}
	w.push(tap{kind: "alert", alert: notify.Alert{Kind: kind, Request: req, Detail: code, At: w.now()}})
}

// AuditLog hears the audit log stop (ok false) and resume (ok true) accepting events: both are
// "audit_log" alerts, since sessions are refused meanwhile.
func (w *Wire) AuditLog(ok bool, detail string) {
	state := "FAILING, sessions and changes are refused: "
	if ok {
		state = "recovered: "
	}
	w.push(tap{kind: "alert", alert: notify.Alert{Kind: notify.AlertAuditLog, Detail: state + detail, At: w.now()}})
}

// SyncRefused hears a key sync run that changed nothing because its source was unreachable,
// empty or would freeze too many accounts, or that stopped on a change it could not make.
func (w *Wire) SyncRefused(source, detail string) {
	w.push(tap{kind: "alert", alert: notify.Alert{Kind: notify.AlertSyncRefused, Detail: "source " + source + ": " + detail, At: w.now()}})
}

// consumeTaps turns taps into alerts, off the user's path (the admin check reads the store).
func (w *Wire) consumeTaps(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-w.taps:
			switch t.kind {
			case "login":
				a, err := w.st.GetAccount(ctx, t.account)
				if err != nil || !a.HasGrant("admin") {
					continue
				}
				t.alert.Detail = "administrator logged in"
			case "mfa_failure":
				n, fire := w.failures.Add(t.account, t.alert.At)
				if !fire {
					continue
				}
				t.alert.Detail = fmt.Sprintf("%d second-factor failures within %s", n, w.failures.Window)
			}
			for _, al := range w.alerters {
				al.Alert(t.alert)
			}
		}
	}
}

// AlertStats are the alert counters, with the taps dropped before reaching the queues.
type AlertStats struct {
	notify.AlertStats
	TapsDropped uint64
}

// Stats returns the alert counters (for metrics).
func (w *Wire) Stats() AlertStats {
	out := AlertStats{AlertStats: notify.AlertStats{Channels: map[string]notify.ChannelAlertStats{}}, TapsDropped: w.tapDrops.Load()}
	for _, al := range w.alerters {
		s := al.Stats()
		out.Enqueued += s.Enqueued
		out.Sent += s.Sent
		out.Failed += s.Failed
		out.Dropped += s.Dropped
		for name, c := range s.Channels {
			out.Channels[name] = c // one channel per alerter
		}
	}
	return out
}
