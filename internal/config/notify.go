package config

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Notify is the [notify] block: chat channels, which of them carry webhook codes and approval
// requests (by default and per group), the two chat factors' settings, the fallback factor when
// a chat factor cannot be delivered, and alerts. See docs/configuration.md.
type Notify struct {
	// Channels by name; the name appears in logs, errors and metrics (never the URL).
	Channels map[string]NotifyChannel `toml:"channels"`
	// Codes and Approvals name the channels used when no group of the request has its own.
	Codes     []string `toml:"codes"`
	Approvals []string `toml:"approvals"`
	// Delivery: "all" (default: every channel must accept, else the factor fails) or "any".
	Delivery string `toml:"delivery"`
	// Fallback: what replaces a chat factor that could not be delivered: none (default, refuse),
	// password, totp or any.
	Fallback string `toml:"fallback"`
	// Groups: per group, the channels of codes and approvals for its servers and its members.
	Groups   map[string]NotifyGroup `toml:"groups"`
	Code     NotifyCode             `toml:"code"`
	Approval NotifyApproval         `toml:"approval"`
	Alerts   NotifyAlerts           `toml:"alerts"`
}

// NotifyChannel is one [notify.channels.NAME] table.
type NotifyChannel struct {
	// Kind: slack, teams-workflow, teams-connector, discord, mattermost, ntfy or generic.
	Kind string `toml:"kind"`
	// URL is the webhook URL (a credential); URLEnv names an environment variable holding it.
	// Exactly one of the two.
	URL    string `toml:"url"`
	URLEnv string `toml:"url_env"`
	// Timeout bounds one message, retries after 429 included (default 10s).
	Timeout string `toml:"timeout"`
	// Template (generic only): the JSON body, see docs/notify.md.
	Template string `toml:"template"`
	// Secret / SecretEnv (generic only): signs each request (X-Gatehouse-Signature).
	Secret    string `toml:"secret"`
	SecretEnv string `toml:"secret_env"`
	// Token / TokenEnv (ntfy only): access token sent as Authorization: Bearer.
	Token    string `toml:"token"`
	TokenEnv string `toml:"token_env"`
	// Approver binds this channel's approval links to one account (e.g. a personal ntfy topic).
	Approver string `toml:"approver"`
	// Username (discord, mattermost) and Channel (mattermost) override the webhook's defaults.
	Username string `toml:"username"`
	Channel  string `toml:"channel"`
}

// NotifyGroup is one [notify.groups.GROUP] table.
type NotifyGroup struct {
	Channels []string `toml:"channels"`
	// Approvers are the accounts that may decide the approval requests of this group's servers
	// and members, besides [notify.approval] approvers.
	Approvers []string `toml:"approvers"`
}

// NotifyCode is [notify.code]: the webhook code factor.
type NotifyCode struct {
	Digits int    `toml:"digits"` // 4–12, default 6
	TTL    string `toml:"ttl"`    // default 120s
}

// NotifyApproval is [notify.approval]: the approval factor. Its HTTP endpoints (Slack's
// interactivity URL, the signed links) listen on approvalListen.
type NotifyApproval struct {
	TTL       string   `toml:"ttl"`       // default 120s
	FourEyes  bool     `toml:"four_eyes"` // the requester may not approve their own request (default true)
	Approvers []string `toml:"approvers"` // accounts allowed to decide; empty: any mapped account
	// PublicURL is the base under which approvalListen is reachable (https), e.g.
	// "https://bastion.example:8443/". Empty: http://<approvalListen>/ (loopback only).
	PublicURL string `toml:"public_url"`
	// Slack request signing (required to accept Slack's button callbacks).
	SlackSigningSecret    string `toml:"slack_signing_secret"`
	SlackSigningSecretEnv string `toml:"slack_signing_secret_env"`
	SlackTeamID           string `toml:"slack_team_id"`
	SlackAppID            string `toml:"slack_app_id"`
}

// NotifyAlerts is [notify.alerts].
type NotifyAlerts struct {
	Channels []string `toml:"channels"`
	// Kinds: admin_login, mfa_failures, access_refused, host_key_changed, account_created,
	// grant_given, audit_log, sync_refused; empty: all of them.
	Kinds []string `toml:"kinds"`
	// Routes send some kinds to other channels instead: [notify.alerts.routes]
	// access_refused = ["security"]. A routed kind is sent whatever Kinds says.
	Routes    map[string][]string `toml:"routes"`
	QueueSize int                 `toml:"queue_size"` // per channel, default 256
	// MFA failures alert when an account reaches the threshold within the window.
	MFAFailureThreshold int    `toml:"mfa_failure_threshold"` // default 5
	MFAFailureWindow    string `toml:"mfa_failure_window"`    // default 10m
	// CoalesceWindow holds back repeats of an alert (same kind, account, source, target and detail) for this
	// long after one is sent; the next one says how many were held back. "0s": send every one.
	CoalesceWindow string `toml:"coalesce_window"` // default 10m
}

// ChannelKinds are the kinds a channel may have.
var ChannelKinds = []string{"slack", "teams-workflow", "teams-connector", "discord", "mattermost", "ntfy", "generic"}

// AlertKinds are the alerts that may be chosen.
var AlertKinds = []string{"admin_login", "mfa_failures", "access_refused", "host_key_changed", "account_created", "grant_given", "audit_log", "sync_refused"}

var channelNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// secretValue returns the literal or the environment variable's value.
func secretValue(lit, env string) string {
	if env != "" {
		return os.Getenv(env)
	}
	return lit
}

// ResolvedURL is the channel's URL, read from the environment when url_env is set.
func (c NotifyChannel) ResolvedURL() string { return secretValue(c.URL, c.URLEnv) }

// ResolvedSecret is the generic signing secret.
func (c NotifyChannel) ResolvedSecret() string { return secretValue(c.Secret, c.SecretEnv) }

// ResolvedToken is the ntfy access token.
func (c NotifyChannel) ResolvedToken() string { return secretValue(c.Token, c.TokenEnv) }

// ResolvedSlackSigningSecret is the Slack app's signing secret.
func (a NotifyApproval) ResolvedSlackSigningSecret() string {
	return secretValue(a.SlackSigningSecret, a.SlackSigningSecretEnv)
}

// Duration parses a validated duration option, or returns def when empty.
func Duration(s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return def // validated at load: not reached
	}
	return d
}

// Enabled reports whether any chat channel is configured.
func (n *Notify) Enabled() bool { return len(n.Channels) > 0 }

func badIn(table, key, format string, args ...any) error {
	return &Error{Key: key, Table: table, Reason: table + "." + key + ": " + fmt.Sprintf(format, args...)}
}

// validate checks the [notify] block; approvalListen is the top-level listener address.
func (n *Notify) validate(approvalListen string) error {
	for name, ch := range n.Channels {
		table := "notify.channels." + name
		if !channelNameRe.MatchString(name) {
			return badIn(table, "kind", "channel name %q must be 1 to 64 letters, digits, '_' or '-'", name)
		}
		if !slices.Contains(ChannelKinds, ch.Kind) {
			return badIn(table, "kind", "%q must be one of %s", ch.Kind, strings.Join(ChannelKinds, ", "))
		}
		if (ch.URL == "") == (ch.URLEnv == "") {
			return badIn(table, "url", "give exactly one of url and url_env")
		}
		if ch.URLEnv != "" && os.Getenv(ch.URLEnv) == "" {
			return badIn(table, "url_env", "environment variable %s is empty or not set", ch.URLEnv)
		}
		u, err := url.Parse(ch.ResolvedURL())
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			key := "url"
			if ch.URLEnv != "" {
				key = "url_env"
			}
			return badIn(table, key, "not an http(s) URL")
		}
		if err := checkDuration(table, "timeout", ch.Timeout, time.Millisecond, 5*time.Minute); err != nil {
			return err
		}
		if ch.Kind == "generic" && strings.TrimSpace(ch.Template) == "" {
			return badIn(table, "template", "a generic channel needs a template (see docs/notify.md)")
		}
		if ch.Kind != "generic" && (ch.Template != "" || ch.Secret != "" || ch.SecretEnv != "") {
			return badIn(table, "template", "template and secret are for generic channels only")
		}
		if ch.Kind != "ntfy" && (ch.Token != "" || ch.TokenEnv != "") {
			return badIn(table, "token", "token is for ntfy channels only")
		}
		for _, env := range []struct{ key, name string }{{"secret_env", ch.SecretEnv}, {"token_env", ch.TokenEnv}} {
			if env.name != "" && os.Getenv(env.name) == "" {
				return badIn(table, env.key, "environment variable %s is empty or not set", env.name)
			}
		}
	}
	refs := func(table, key string, names []string) error {
		for _, c := range names {
			if _, ok := n.Channels[c]; !ok {
				return badIn(table, key, "no channel named %q (define [notify.channels.%s])", c, c)
			}
		}
		return nil
	}
	if err := refs("notify", "codes", n.Codes); err != nil {
		return err
	}
	if err := refs("notify", "approvals", n.Approvals); err != nil {
		return err
	}
	for g, gc := range n.Groups {
		if err := refs("notify.groups."+g, "channels", gc.Channels); err != nil {
			return err
		}
	}
	if err := refs("notify.alerts", "channels", n.Alerts.Channels); err != nil {
		return err
	}
	if n.Delivery != "" && n.Delivery != "all" && n.Delivery != "any" {
		return badIn("notify", "delivery", "%q must be all or any", n.Delivery)
	}
	switch n.Fallback {
	case "", "none", "password", "totp", "any":
	default:
		return badIn("notify", "fallback", "%q must be none, password, totp or any", n.Fallback)
	}
	if n.Code.Digits != 0 && (n.Code.Digits < 4 || n.Code.Digits > 12) {
		return badIn("notify.code", "digits", "%d must be between 4 and 12", n.Code.Digits)
	}
	if err := checkDuration("notify.code", "ttl", n.Code.TTL, 5*time.Second, time.Hour); err != nil {
		return err
	}
	if err := checkDuration("notify.approval", "ttl", n.Approval.TTL, 10*time.Second, time.Hour); err != nil {
		return err
	}
	if env := n.Approval.SlackSigningSecretEnv; env != "" && os.Getenv(env) == "" {
		return badIn("notify.approval", "slack_signing_secret_env", "environment variable %s is empty or not set", env)
	}
	if p := n.Approval.PublicURL; p != "" {
		u, err := url.Parse(p)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
			return badIn("notify.approval", "public_url", "%q must be an https URL (http only on loopback)", p)
		}
	}
	if len(n.Approvals) > 0 && approvalListen == "" {
		// Approval links and Slack callbacks need somewhere to land.
		return badIn("notify", "approvals", "approval requests need approvalListen (the HTTP listener for links and Slack callbacks)")
	}
	for _, k := range n.Alerts.Kinds {
		if !slices.Contains(AlertKinds, k) {
			return badIn("notify.alerts", "kinds", "%q must be one of %s", k, strings.Join(AlertKinds, ", "))
		}
	}
	for k, chans := range n.Alerts.Routes {
		if !slices.Contains(AlertKinds, k) {
			return badIn("notify.alerts.routes", k, "%q must be one of %s", k, strings.Join(AlertKinds, ", "))
		}
		if err := refs("notify.alerts.routes", k, chans); err != nil {
			return err
		}
	}
	if n.Alerts.QueueSize < 0 || n.Alerts.QueueSize > 100000 {
		return badIn("notify.alerts", "queue_size", "%d must be between 1 and 100000", n.Alerts.QueueSize)
	}
	if n.Alerts.MFAFailureThreshold < 0 {
		return badIn("notify.alerts", "mfa_failure_threshold", "%d must be 0 or more", n.Alerts.MFAFailureThreshold)
	}
	if err := checkDuration("notify.alerts", "mfa_failure_window", n.Alerts.MFAFailureWindow, time.Second, 7*24*time.Hour); err != nil {
		return err
	}
	return checkDuration("notify.alerts", "coalesce_window", n.Alerts.CoalesceWindow, 0, 24*time.Hour)
}

// UnidentifiedApprovalChannel names the first channel (sorted) whose approval links could
// never decide a request, or "": a link channel (every kind but Slack, whose buttons name the
// Slack user) bound to no approver, when four eyes (the default) or an approver list requires
// to know who clicks, and no web console lets the clicker log in (its approvals page, where the
// approver's webLogin session says who they are). Pure: the decision of checkApprovalIdentity.
func (n *Notify) UnidentifiedApprovalChannel(approvalListen, consoleOn bool) string {
	restricted := n.Approval.FourEyes || len(n.Approval.Approvers) > 0
	carry := slices.Clone(n.Approvals)
	for _, g := range n.Groups {
		carry = append(carry, g.Channels...)
		restricted = restricted || len(g.Approvers) > 0
	}
	if !approvalListen || consoleOn || !restricted {
		return ""
	}
	slices.Sort(carry)
	for _, name := range carry {
		if ch, ok := n.Channels[name]; ok && ch.Kind != "slack" && ch.Approver == "" {
			return name
		}
	}
	return ""
}

// checkApprovalIdentity refuses an approval setup that could never approve anything
// (UnidentifiedApprovalChannel), saying how to make it work.
func (n *Notify) checkApprovalIdentity(approvalListen string, consoleOn bool) error {
	name := n.UnidentifiedApprovalChannel(approvalListen != "", consoleOn)
	if name == "" {
		return nil
	}
	return badIn("notify.channels."+name, "approver", "approval links in this %s channel cannot tell who clicks, and four_eyes "+
		"(on by default) or an approvers list needs to know: bind the channel to the one account that reads it (approver = \"ACCOUNT\"), "+
		"or turn the web console on ([web] listen) so that the links lead to its approvals page, where the approver is logged in "+
		"(webLogin), or set four_eyes = false with no approvers", n.Channels[name].Kind)
}

func checkDuration(table, key, v string, lo, hi time.Duration) error {
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return badIn(table, key, "%q is not a duration (e.g. 90s, 2m)", v)
	}
	if d < lo || d > hi {
		return badIn(table, key, "%s must be between %s and %s", v, lo, hi)
	}
	return nil
}

func isLoopback(host string) bool {
	return host == "127.0.0.1" || host == "localhost" || host == "::1"
}

// lineIn finds the line assigning key inside the TOML table [table] (or at top level when table
// is ""); 0 when not found. A key of a table that is not written ([notify.code] absent) falls
// back to the table's parent header.
func lineIn(data []byte, table, key string) int {
	if t, i, ok := arrayTable(table); ok {
		return lineInArray(data, t, i, key)
	}
	if table == "" {
		return lineOf(data, key)
	}
	lines := strings.Split(string(data), "\n")
	header := regexp.MustCompile(`^\s*\[\s*"?` + regexp.QuoteMeta(table) + `"?\s*\]`)
	anyHeader := regexp.MustCompile(`^\s*\[`)
	assign := regexp.MustCompile(`^\s*"?` + regexp.QuoteMeta(key) + `"?\s*=`)
	in, start := false, 0
	for i, l := range lines {
		switch {
		case header.MatchString(l):
			in, start = true, i+1
		case anyHeader.MatchString(l):
			in = false
		case in && assign.MatchString(l):
			return i + 1
		}
	}
	if start > 0 {
		return start
	}
	return lineOf(data, key)
}
