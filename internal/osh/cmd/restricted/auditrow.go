package restricted

import (
	"encoding/json"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

// accountList --audit's row is accountInfo's auditor view without the groups, with The
// Bastion's accountList keys where they differ (docs/bastion-compat.md, "accountList --audit"):
//   - mfa_password_configured, mfa_totp_configured: the account's factors (MFAConfigured, one
//     query for every account), not 0 for all;
//   - always_active, always_active_reason: accountInfo's (the account's own flag or
//     alwaysActiveAccounts; the reason only when always active), not the reason an account is
//     inactive; is_active and can_connect count alwaysActiveAccounts, as a login does;
//   - last_activity: The Bastion's sentence ("Last seen on DATE (DURATION ago)", "Created on …"
//     for an account never seen) and last_activity_timestamp, its time;
//   - expired_days (expired for inactivity), ttl_expired_details (TTL expired);
//   - password_*: the password information (accountInfo --with-mfa-password-info's keys,
//     prefixed), unless --no-password-info;
//   - name, created_by, freeze_reason (gatehouse's), is_admin/is_superowner/is_auditor always.

// AuditPassword is accountList --audit's password_* keys: PasswordInfo's, prefixed, as The
// Bastion's accountList adds its password helper's keys.
type AuditPassword struct {
	DateChanged           *string `json:"password_date_changed"`
	DateChangedTimestamp  int64   `json:"password_date_changed_timestamp"`
	DateDisabled          *string `json:"password_date_disabled"` // null: gatehouse never disables for age
	DateDisabledTimestamp int64   `json:"password_date_disabled_timestamp"`
	InactiveDays          int     `json:"password_inactive_days"`
	MaxDays               int     `json:"password_max_days"`
	MinDays               int     `json:"password_min_days"`
	Name                  string  `json:"password_name"` // The Bastion's helper names each account when run for all
	Password              string  `json:"password_password"`
	User                  string  `json:"password_user"`
	WarnDays              int     `json:"password_warn_days"`

	changed string // DateChanged's text, reused row after row
}

// newAuditPassword is the aging policy part of AuditPassword (PasswordInfo's), the same for
// every account.
func newAuditPassword(cfg *config.Config) *AuditPassword {
	p := &AuditPassword{MaxDays: cfg.MFAPasswordMaxDays, MinDays: cfg.MFAPasswordMinDays, WarnDays: cfg.MFAPasswordWarnDays,
		InactiveDays: cfg.MFAPasswordInactiveDays}
	if p.MaxDays == 0 {
		p.MaxDays = -1
	}
	if p.InactiveDays < 0 {
		p.InactiveDays = -1
	}
	return p
}

// set fills the account's part of p (PasswordInfo's meaning).
func (p *AuditPassword) set(account string, configured bool, changed time.Time) {
	p.User, p.Name, p.Password, p.DateChanged, p.DateChangedTimestamp = account, account, "locked", nil, 0
	if !configured {
		return
	}
	p.Password = "set"
	if !changed.IsZero() {
		day := changed.UTC().Truncate(24 * time.Hour)
		p.changed, p.DateChangedTimestamp = day.Format("2006-01-02"), day.Unix()
		p.DateChanged = &p.changed
	}
}

// TTLDetails is ttl_expired_details: how long ago the account's TTL ran out, in The Bastion's
// duration form, and when.
type TTLDetails struct {
	Date          string `json:"date"` // = DatetimeLocal (The Bastion keeps both)
	DatetimeLocal string `json:"datetime_local"`
	DatetimeUTC   string `json:"datetime_utc"`
	Duration      string `json:"duration"`
	Human         string `json:"human"`
}

// MarshalJSON writes accountList --audit's sentence, or accountInfo's object.
func (la *LastActivity) MarshalJSON() ([]byte, error) {
	if la.sentence != "" {
		return rawJSON(la.sentence)
	}
	type plain LastActivity
	return rawJSON((*plain)(la))
}

// AuditRow is accountList --audit's value for one account (see above); in.Groups is not read.
// withPassword adds the password_* keys under cfg's aging policy.
func AuditRow(in InfoInput, withPassword bool, cfg *config.Config) *Info {
	v := new(Info)
	var pw *AuditPassword
	if withPassword {
		pw = newAuditPassword(cfg)
	}
	fillAuditRow(v, &in, pw, new(LastActivity))
	return v
}

// fillAuditRow is AuditRow into v, as fillInfo; pw (the policy filled, nil without the
// password keys) and la are reused row after row by accountList's lazy answer.
func fillAuditRow(v *Info, in *InfoInput, pw *AuditPassword, la *LastActivity) {
	groups, list := in.Groups, in.GroupList
	in.CallerAuditor, in.Groups, in.GroupList = true, nil, nil
	fillInfo(v, *in)
	in.Groups, in.GroupList = groups, list
	a := &in.Account
	v.Groups = nil
	v.Name = a.Name
	if a.Frozen {
		v.FreezeReason = &a.FrozenReason
	}
	v.IsAdmin = flag(a.HasGrant(osh.GrantAdmin))
	v.IsSuperOwner = flag(a.HasGrant(osh.GrantSuperOwner) || a.HasGrant(osh.GrantAdmin))
	v.IsAuditor = flag(a.HasGrant(osh.GrantAuditor))
	// The Bastion's last activity: the last login, else the creation.
	when, word := a.LastSeenAt, "Last seen"
	if when.IsZero() {
		when, word = a.CreatedAt, "Created"
	}
	var buf [96]byte // the sentence, made in one allocation
	t := when.Local().AppendFormat(append(append(buf[:0], word...), " on "...), localLayout)
	t = append(osh.AppendHumanDuration(append(t, " ("...), in.Now.Sub(when)), " ago)"...)
	*la = LastActivity{sentence: string(t)}
	v.LastActivity, v.LastActivityTimestamp = la, when.Unix()
	if v.IsExpired == 1 {
		days := int(in.Now.Sub(a.LastSeenAt) / (24 * time.Hour))
		v.ExpiredDays = &days
	}
	if v.IsTTLExpired == 1 {
		local := a.ExpiresAt.Local().Format("Mon 2006-01-02 15:04:05 MST")
		d := osh.HumanDuration(in.Now.Sub(a.ExpiresAt))
		v.TTLExpiredDetails = &TTLDetails{Date: local, DatetimeLocal: local, DatetimeUTC: a.ExpiresAt.UTC().Format("Mon 2006-01-02 15:04:05 UTC"),
			Duration: d, Human: d + " (" + local + ")"}
	}
	if pw != nil {
		pw.set(a.Name, in.PasswordConfigured, in.PasswordChanged)
		v.AuditPassword = pw
	}
}

// auditInput is accountList --audit's InfoInput for a: its factors from MFAConfigured.
func auditInput(a *store.Account, now time.Time, globalMax int, listed bool, m store.MFAConfigured) InfoInput {
	return InfoInput{Account: *a, Now: now, GlobalMaxInactiveDays: globalMax, ListedAlwaysActive: listed,
		PasswordConfigured: m.Password, TOTPConfigured: m.TOTP, PasswordChanged: m.PasswordChanged}
}

// activeAsListed is accountList's is_active: accountInfo's (fillInfo), alwaysActiveAccounts
// counted as a login counts it; not frozen, TTL not over, not expired for inactivity.
func activeAsListed(a *store.Account, now time.Time, globalMax int, listed bool) bool {
	if a.Frozen || !a.ExpiresAt.IsZero() && !now.Before(a.ExpiresAt) {
		return false
	}
	if listed || a.AlwaysActive {
		return true
	}
	_, inactive := osh.InactivityExpired(a, now, globalMax)
	return !inactive
}

var _ json.Marshaler = (*LastActivity)(nil)
