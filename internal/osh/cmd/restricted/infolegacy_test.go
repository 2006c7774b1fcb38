package restricted

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/store"
)

// This file keeps, as the reference, the map-per-account builders that accountInfo and
// accountList --audit used before their answers became structs (issue 14): the new answers must
// encode to the same bytes (TestInfoStructsEncodeAsMaps). Copied from the tree as of 603be5c.

func legacyInfoValue(in InfoInput) map[string]any {
	a := in.Account
	b := common.Bool
	v := make(map[string]any, 64)
	v["account"] = a.Name
	if a.HasGrant(osh.GrantAdmin) {
		v["is_admin"] = 1
	}
	if a.HasGrant(osh.GrantAdmin) || a.HasGrant(osh.GrantSuperOwner) {
		v["is_superowner"] = 1
	}
	if a.HasGrant(osh.GrantAuditor) {
		v["is_auditor"] = 1
	}
	granted := []string{}
	for _, g := range a.Grants {
		if !roleGrants[g] {
			granted = append(granted, g)
		}
	}
	sort.Strings(granted)
	v["allowed_commands"] = granted
	groups := map[string]any{}
	for name, roles := range in.Groups {
		groups[name] = map[string]any{"name": name, "flags": roles}
	}
	v["groups"] = groups
	v["always_active"] = b(a.AlwaysActive || in.ListedAlwaysActive)
	if in.ListedAlwaysActive && !a.AlwaysActive {
		v["always_active_reason"] = "account listed in global configuration"
		a.AlwaysActive = true
	}
	if a.AlwaysActive && v["always_active_reason"] == nil {
		v["always_active_reason"] = "account local configuration"
	}
	frozen := a.Frozen
	ttlExpired := !a.ExpiresAt.IsZero() && !in.Now.Before(a.ExpiresAt)
	_, inactive := osh.InactivityExpired(&a, in.Now, in.GlobalMaxInactiveDays)
	v["is_active"] = b(!frozen && !ttlExpired && !inactive)
	if !in.CallerAuditor {
		return v
	}
	v["is_ttl_set"] = b(!a.ExpiresAt.IsZero())
	v["is_ttl_expired"] = b(ttlExpired)
	v["ttl_timestamp"] = nil
	if !a.ExpiresAt.IsZero() {
		v["ttl_timestamp"] = a.ExpiresAt.Unix()
	}
	v["is_frozen"] = b(frozen)
	if frozen {
		v["freeze_info"] = map[string]any{"reason": a.FrozenReason}
	}
	v["is_expired"] = b(inactive)
	v["can_connect"] = b(!frozen && !ttlExpired && !inactive)
	v["already_seen_before"] = b(!a.LastSeenAt.IsZero())
	v["last_activity"] = nil
	if !a.LastSeenAt.IsZero() {
		v["last_activity"] = map[string]any{
			"datetime_utc":   a.LastSeenAt.UTC().Format("Mon 2006-01-02 15:04:05 UTC"),
			"datetime_local": a.LastSeenAt.Local().Format("Mon 2006-01-02 15:04:05 MST"),
			"ago":            osh.HumanDuration(in.Now.Sub(a.LastSeenAt)),
			"timestamp":      a.LastSeenAt.Unix(),
		}
	}
	v["creation_information"] = map[string]any{
		"by": a.CreatedBy, "comment": a.Comment, "timestamp": a.CreatedAt.Unix(),
		"datetime_utc":   a.CreatedAt.UTC().Format("Mon 2006-01-02 15:04:05 UTC"),
		"datetime_local": a.CreatedAt.Local().Format("Mon 2006-01-02 15:04:05 MST"),
	}
	v["created_by"], v["comment"], v["created"] = a.CreatedBy, a.Comment, a.CreatedAt.Unix()
	v["ttl_expires"] = v["ttl_timestamp"]
	v["account_egress_ssh_config"] = legacyEgressSSHConfig(a.Settings)
	v["ingress_piv_enforced"], v["ingress_piv_policy"] = 0, nil
	v["ingress_piv_grace"] = map[string]any{"enabled": 0}
	v["global_ingress_policy"], v["effective_ingress_piv_policy"] = 0, 0
	set := func(k string) string { return a.Settings[k] }
	v["mfa_password_required"] = b(set("mfa_password_required") == "yes")
	v["mfa_password_bypass"] = b(set("mfa_password_required") == "bypass")
	v["mfa_password_configured"] = b(in.PasswordConfigured)
	v["mfa_totp_required"] = b(set("mfa_totp_required") == "yes")
	v["mfa_totp_bypass"] = b(set("mfa_totp_required") == "bypass")
	v["mfa_totp_configured"] = b(in.TOTPConfigured)
	v["pam_auth_bypass"] = b(set("pam_auth_bypass") == "yes")
	v["pubkey_auth_optional"] = b(set("pubkey_auth_optional") == "yes")
	v["personal_egress_mfa_required"] = "none"
	if p := set("personal_egress_mfa_required"); p != "" {
		v["personal_egress_mfa_required"] = p
	}
	v["idle_ignore"] = b(set("idle_ignore") == "yes")
	v["max_inactive_days"] = nil
	if a.MaxInactiveDays >= 0 {
		v["max_inactive_days"] = a.MaxInactiveDays
	}
	v["osh_only"] = b(a.OshOnly)
	return v
}

func legacyEgressSSHConfig(s map[string]string) map[string]any {
	items := map[string]any{}
	switch s["egress_strict_host_key_checking"] {
	case "", "default":
	case "bypass":
		items["stricthostkeychecking"], items["userknownhostsfile"] = "no", "/dev/null"
	default:
		items["stricthostkeychecking"] = s["egress_strict_host_key_checking"]
	}
	switch s["egress_session_multiplexing"] {
	case "yes":
		items["controlmaster"], items["controlpath"] = "auto", "~/.ssh/sockets/%C"
	case "no":
		items["controlmaster"], items["controlpath"] = "no", "none"
	}
	if len(items) == 0 {
		return map[string]any{"type": "default"}
	}
	return map[string]any{"type": "custom", "items": items}
}

// legacyAccountValue is accountList's own per-account keys (accountValue before issue 14).
func legacyAccountValue(now time.Time, globalMax int, a store.Account) map[string]any {
	active, reason := common.IsActive(&a, now, globalMax)
	v := map[string]any{
		"account": a.Name, "name": a.Name, "is_active": common.Bool(active), "always_active": common.Bool(a.AlwaysActive),
		"is_frozen": common.Bool(a.Frozen), "osh_only": common.Bool(a.OshOnly), "comment": a.Comment,
		"created": a.CreatedAt.Unix(), "created_by": a.CreatedBy, "ttl_expires": nil, "last_activity": nil,
		"is_admin": common.Bool(a.HasGrant(osh.GrantAdmin)), "is_superowner": common.Bool(a.HasGrant(osh.GrantSuperOwner) || a.HasGrant(osh.GrantAdmin)),
		"is_auditor": common.Bool(a.HasGrant(osh.GrantAuditor)), "max_inactive_days": a.MaxInactiveDays,
	}
	if reason != "" {
		v["always_active_reason"] = reason
	}
	if !a.ExpiresAt.IsZero() {
		v["ttl_expires"] = a.ExpiresAt.Unix()
	}
	if !a.LastSeenAt.IsZero() {
		v["last_activity"] = a.LastSeenAt.Unix()
	}
	if a.Frozen {
		v["freeze_reason"] = a.FrozenReason
	}
	return v
}

// legacyAuditRow is accountList --audit's value for one account before issue 14.
func legacyAuditRow(in InfoInput) map[string]any {
	v := legacyInfoValue(in)
	for k, x := range legacyAccountValue(in.Now, in.GlobalMaxInactiveDays, in.Account) {
		if _, ok := v[k]; !ok || k != "last_activity" && k != "max_inactive_days" {
			v[k] = x
		}
	}
	delete(v, "groups")
	return v
}

// legacyInfoLines is accountInfoLines before issue 14, on the map.
func legacyInfoLines(v map[string]any) []string {
	yes := func(k string) bool { x, _ := v[k].(int); return x == 1 }
	name, _ := v["account"].(string)
	var lines []string
	state := "inactive"
	if yes("is_active") {
		state = "active"
	}
	lines = append(lines, fmt.Sprintf("%s is %s.", name, state))
	var roles []string
	for _, r := range []struct{ key, name string }{{"is_admin", "admin"}, {"is_superowner", "super-owner"}, {"is_auditor", "auditor"}} {
		if yes(r.key) {
			roles = append(roles, r.name)
		}
	}
	if len(roles) > 0 {
		lines = append(lines, "Roles: "+strings.Join(roles, ", ")+".")
	}
	if cmds, _ := v["allowed_commands"].([]string); len(cmds) > 0 {
		lines = append(lines, "Granted: "+strings.Join(cmds, ", "))
	}
	if gs, ok := v["groups"].(map[string]any); ok {
		if len(gs) == 0 {
			lines = append(lines, "Groups: none.")
		} else {
			names := make([]string, 0, len(gs))
			for n := range gs {
				names = append(names, n)
			}
			sort.Strings(names)
			parts := make([]string, len(names))
			for i, n := range names {
				g, _ := gs[n].(map[string]any)
				roles, _ := g["flags"].([]string)
				parts[i] = fmt.Sprintf("%s (%s)", n, strings.Join(roles, ", "))
			}
			lines = append(lines, "Groups: "+strings.Join(parts, ", ")+".")
		}
	}
	if _, auditorView := v["is_ttl_set"]; !auditorView {
		return lines
	}
	if ci, ok := v["creation_information"].(map[string]any); ok {
		lines = append(lines, fmt.Sprintf("Created on %v by %v.", ci["datetime_utc"], ci["by"]))
	}
	if ts, ok := v["ttl_timestamp"].(int64); ok {
		word := "expires"
		if yes("is_ttl_expired") {
			word = "expired"
		}
		lines = append(lines, fmt.Sprintf("This account %s on %s (TTL).", word, time.Unix(ts, 0).UTC().Format("Mon 2006-01-02 15:04:05 UTC")))
	}
	if yes("is_frozen") {
		fi, _ := v["freeze_info"].(map[string]any)
		lines = append(lines, fmt.Sprintf("This account is FROZEN (%v).", fi["reason"]))
	}
	if yes("osh_only") {
		lines = append(lines, "May only run --osh commands (no connection to servers).")
	}
	word := map[bool]string{true: "configured", false: "not configured"}
	lines = append(lines, fmt.Sprintf("MFA: password %s, TOTP %s.", word[yes("mfa_password_configured")], word[yes("mfa_totp_configured")]))
	req := func(k string) string {
		switch {
		case yes(k + "_required"):
			return "yes"
		case yes(k + "_bypass"):
			return "bypass"
		}
		return "no"
	}
	yn := map[bool]string{true: "yes", false: "no"}
	lines = append(lines, fmt.Sprintf("MFA required: password %s, TOTP %s; personal accesses ask: %v.", req("mfa_password"), req("mfa_totp"), v["personal_egress_mfa_required"]))
	lines = append(lines, fmt.Sprintf("Key only, second factors bypassed (pam-auth-bypass): %s; key optional (pubkey-auth-optional): %s.", yn[yes("pam_auth_bypass")], yn[yes("pubkey_auth_optional")]))
	last := "never (this account has NEVER been used yet)"
	if la, ok := v["last_activity"].(map[string]any); ok {
		last = fmt.Sprintf("%v (%v ago)", la["datetime_utc"], la["ago"])
	}
	inactive := "the bastion's setting"
	if d, ok := v["max_inactive_days"].(int); ok {
		inactive = fmt.Sprintf("%d days", d)
		if d == 0 {
			inactive = "never"
		}
	}
	lines = append(lines, fmt.Sprintf("Last seen on %s; expires after inactivity: %s%s.", last, inactive,
		map[bool]string{true: " (always active)", false: ""}[yes("always_active")]))
	if cm, _ := v["comment"].(string); cm != "" {
		lines = append(lines, "Comment: "+cm)
	}
	return lines
}

// auditCfg is the aging policy of the audit rows' password_* keys in the tests.
var auditCfg = func() *config.Config {
	c := config.Default()
	c.MFAPasswordMinDays, c.MFAPasswordMaxDays, c.MFAPasswordWarnDays, c.MFAPasswordInactiveDays = 1, 90, 7, -1
	return &c
}()

// bastionAuditRow is accountList --audit's row as this session made it follow The Bastion's
// accountList (docs/bastion-compat.md): legacyAuditRow with the keys that changed, made here
// from their definitions, so that every other key is still checked byte for byte.
func bastionAuditRow(in InfoInput, withPassword bool, cfg *config.Config) map[string]any {
	v := legacyAuditRow(in)
	info := legacyInfoValue(in) // accountInfo's activeness and always-active reason
	v["is_active"], v["can_connect"], v["always_active"] = info["is_active"], info["can_connect"], info["always_active"]
	delete(v, "always_active_reason")
	if r, ok := info["always_active_reason"]; ok {
		v["always_active_reason"] = r
	}
	a := in.Account
	when, word := a.LastSeenAt, "Last seen"
	if when.IsZero() {
		when, word = a.CreatedAt, "Created"
	}
	v["last_activity"] = fmt.Sprintf("%s on %s (%s ago)", word, when.Local().Format("Mon 2006-01-02 15:04:05 MST"), osh.HumanDuration(in.Now.Sub(when)))
	v["last_activity_timestamp"] = when.Unix()
	if info["is_expired"] == 1 {
		v["expired_days"] = int(in.Now.Sub(a.LastSeenAt).Hours()) / 24
	}
	if info["is_ttl_expired"] == 1 {
		local := a.ExpiresAt.Local().Format("Mon 2006-01-02 15:04:05 MST")
		d := osh.HumanDuration(in.Now.Sub(a.ExpiresAt))
		v["ttl_expired_details"] = map[string]any{"date": local, "datetime_local": local,
			"datetime_utc": a.ExpiresAt.UTC().Format("Mon 2006-01-02 15:04:05 UTC"), "duration": d, "human": d + " (" + local + ")"}
	}
	if withPassword {
		m := store.MFACredentials{PasswordChanged: in.PasswordChanged}
		if in.PasswordConfigured {
			m.PasswordHash = "h"
		}
		for k, x := range PasswordInfo(a.Name, m, cfg) {
			v["password_"+k] = x
		}
		// The Bastion's password helper run with --all names each account in its answer
		// (osh-accountGetPasswordInfo), and accountList copies every key, prefixed.
		v["password_name"] = a.Name
	}
	return v
}
