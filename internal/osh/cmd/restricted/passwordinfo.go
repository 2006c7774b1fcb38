package restricted

import (
	"strconv"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

// Options of accountInfo for the MFA password information, as The Bastion's (auditors only).
var passwordInfoOptions = []osh.Option{
	{Name: "with-mfa-password-info", Kind: osh.Flag, Help: "include the MFA password information of the account (auditors and admins)"},
	{Name: "without-mfa-password-info", Kind: osh.Flag, Help: "do not (the default)"},
	{Name: "with-egress-keys", Kind: osh.Flag, Help: "include the account's egress keys, keyed by fingerprint (auditors and admins)"},
	{Name: "without-egress-keys", Kind: osh.Flag, Help: "do not (the default)"},
	{Name: "with-everything", Kind: osh.Flag, Help: "every --with-* option above (groups, MFA password information, egress keys)"},
	{Name: "without-everything", Kind: osh.Flag, Help: "none of them, unless named one by one"},
}

// wantsPasswordInfo: --with-mfa-password-info, unless --without-mfa-password-info is also given
// (the safer reading of the two together).
func wantsPasswordInfo(c *osh.Call) bool {
	return infoToggle(c.Args.Has, "mfa-password-info", false)
}

// infoToggle says whether accountInfo includes part NAME: --with-NAME or --without-NAME when
// given (both: without, the safer reading), else --with-everything or --without-everything
// (both: without), else def. The Bastion applies them in the order typed; gatehouse lets the
// option naming the part win over the one naming everything, whatever the order.
func infoToggle(has func(string) bool, name string, def bool) bool {
	switch {
	case has("without-" + name):
		return false
	case has("with-" + name):
		return true
	case has("without-everything"):
		return false
	case has("with-everything"):
		return true
	}
	return def
}

// PasswordInfo is accountInfo's "password" value, with The Bastion's keys (its
// sys_getpasswordinfo): whether a password is set ("set", or "locked" when there is none, as a
// locked Unix password there), when it changed, and the aging policy in force (max_days and
// inactive_days -1 for never). Never the password or its hash.
func PasswordInfo(account string, m store.MFACredentials, cfg *config.Config) map[string]any {
	set := m.PasswordHash != "" && !m.PasswordTemporary
	return passwordInfo(account, store.MFAConfigured{Password: set, PasswordChanged: m.PasswordChanged}, cfg)
}

// passwordInfo is PasswordInfo from what MFAConfigured reads of every account at once
// (accountInfo --all, issue 14): the same value.
func passwordInfo(account string, m store.MFAConfigured, cfg *config.Config) map[string]any {
	state := "locked"
	if m.Password {
		state = "set"
	}
	v := map[string]any{"user": account, "password": state, "date_changed": nil, "date_changed_timestamp": 0,
		"min_days": cfg.MFAPasswordMinDays, "max_days": cfg.MFAPasswordMaxDays, "warn_days": cfg.MFAPasswordWarnDays,
		"inactive_days": cfg.MFAPasswordInactiveDays, "date_disabled": nil, "date_disabled_timestamp": 0}
	if cfg.MFAPasswordMaxDays == 0 {
		v["max_days"] = -1
	}
	if cfg.MFAPasswordInactiveDays < 0 {
		v["inactive_days"] = -1
	}
	if state == "set" && !m.PasswordChanged.IsZero() {
		// Whole days, as the shadow file counts them.
		day := m.PasswordChanged.UTC().Truncate(24 * time.Hour)
		v["date_changed"], v["date_changed_timestamp"] = day.Format("2006-01-02"), day.Unix()
	}
	return v
}

// passwordInfoLines are The Bastion's human lines for PasswordInfo.
func passwordInfoLines(p *osh.Printer, v map[string]any) {
	p.Line("Account PAM UNIX password information (used for password MFA):")
	if v["password"] == "locked" {
		p.Line("- No valid password is set")
		return
	}
	p.Line("- Password is %v", v["password"])
	changed := "(unknown)"
	if d, ok := v["date_changed"].(string); ok {
		changed = d
	}
	p.Line("- Password was last changed on %s", changed)
	maxDays, _ := v["max_days"].(int)
	if maxDays == -1 {
		p.Line("- Password will never expire")
	} else {
		p.Line("- Password must be changed every %d days at least", maxDays)
		p.Line("- A warning is displayed %v days before expiration", v["warn_days"])
	}
	if minDays, _ := v["min_days"].(int); minDays != 0 {
		p.Line("- The minimum time between two password changes is %d days", minDays)
	}
	if maxDays != -1 {
		if inactive, _ := v["inactive_days"].(int); inactive != -1 {
			p.Line("- Account will be disabled %d days after password expiration", inactive)
		} else {
			p.Line("- Account will not be disabled after password expiration")
		}
	}
}

// appendPasswordInfo appends passwordInfo's value as JSON, the bytes encoding/json writes for
// it (TestAppendPasswordInfo), without a map per account (accountInfo --all
// --with-mfa-password-info at 10,000 accounts, issue 14).
func appendPasswordInfo(b []byte, account string, m store.MFAConfigured, cfg *config.Config) []byte {
	state, changed, changedTS := "locked", "", int64(0)
	if m.Password {
		state = "set"
		if !m.PasswordChanged.IsZero() {
			day := m.PasswordChanged.UTC().Truncate(24 * time.Hour)
			changed, changedTS = day.Format("2006-01-02"), day.Unix()
		}
	}
	maxDays, inactive := cfg.MFAPasswordMaxDays, cfg.MFAPasswordInactiveDays
	if maxDays == 0 {
		maxDays = -1
	}
	if inactive < 0 {
		inactive = -1
	}
	b = append(b, `{"date_changed":`...)
	if changed == "" {
		b = append(b, "null"...)
	} else {
		b = osh.AppendJSONString(b, changed)
	}
	b = strconv.AppendInt(append(b, `,"date_changed_timestamp":`...), changedTS, 10)
	b = strconv.AppendInt(append(b, `,"date_disabled":null,"date_disabled_timestamp":0,"inactive_days":`...), int64(inactive), 10)
	b = strconv.AppendInt(append(b, `,"max_days":`...), int64(maxDays), 10)
	b = strconv.AppendInt(append(b, `,"min_days":`...), int64(cfg.MFAPasswordMinDays), 10)
	b = osh.AppendJSONString(append(b, `,"password":`...), state)
	b = osh.AppendJSONString(append(b, `,"user":`...), account)
	b = strconv.AppendInt(append(b, `,"warn_days":`...), int64(cfg.MFAPasswordWarnDays), 10)
	return append(b, '}')
}
