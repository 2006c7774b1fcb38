package restricted

import (
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
	state := "locked"
	if m.PasswordHash != "" && !m.PasswordTemporary {
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
