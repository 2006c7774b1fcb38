package restricted

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/store"
)

// accountGroups is accountInfo's "groups": each group where the account holds a role, with
// its roles (member, owner, gatekeeper, aclkeeper, guest), sorted.
func accountGroups(ctx context.Context, c *osh.Call, account string) (map[string][]string, error) {
	gs, err := c.Env.Store.GroupsOf(ctx, account)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, g := range gs {
		roles := []string{}
		for role := range g.Roles {
			if g.Has(role, account) {
				roles = append(roles, role)
			}
		}
		sort.Strings(roles)
		out[g.Name] = roles
	}
	return out, nil
}

// accountInfoLines are accountInfo's human lines, made from its JSON value (InfoValue) so that
// the two say the same, and an account that is not an auditor reads no more than its JSON.
func accountInfoLines(v *Info) []string {
	var lines []string
	state := "inactive"
	if v.IsActive == 1 {
		state = "active"
	}
	lines = append(lines, fmt.Sprintf("%s is %s.", v.Account, state))
	var roles []string
	for _, r := range []struct {
		flag *int
		name string
	}{{v.IsAdmin, "admin"}, {v.IsSuperOwner, "super-owner"}, {v.IsAuditor, "auditor"}} {
		if r.flag != nil && *r.flag == 1 {
			roles = append(roles, r.name)
		}
	}
	if len(roles) > 0 {
		lines = append(lines, "Roles: "+strings.Join(roles, ", ")+".")
	}
	if len(v.AllowedCommands) > 0 {
		lines = append(lines, "Granted: "+strings.Join(v.AllowedCommands, ", "))
	}
	if v.Groups != nil {
		if len(v.Groups) == 0 {
			lines = append(lines, "Groups: none.")
		} else {
			names := make([]string, 0, len(v.Groups))
			for n := range v.Groups {
				names = append(names, n)
			}
			sort.Strings(names)
			parts := make([]string, len(names))
			for i, n := range names {
				parts[i] = fmt.Sprintf("%s (%s)", n, strings.Join(v.Groups[n].Flags, ", "))
			}
			lines = append(lines, "Groups: "+strings.Join(parts, ", ")+".")
		}
	}
	if !v.auditorView {
		return lines
	}
	lines = append(lines, fmt.Sprintf("Created on %s by %s.", v.CreationInformation.DatetimeUTC, v.CreationInformation.By))
	if v.TTLTimestamp != nil {
		word := "expires"
		if v.IsTTLExpired == 1 {
			word = "expired"
		}
		lines = append(lines, fmt.Sprintf("This account %s on %s (TTL).", word, time.Unix(*v.TTLTimestamp, 0).UTC().Format("Mon 2006-01-02 15:04:05 UTC")))
	}
	if v.IsFrozen == 1 {
		var reason any // a frozen account always has its freeze_info; "<nil>" as before otherwise
		if v.FreezeInfo != nil {
			reason = v.FreezeInfo.Reason
		}
		lines = append(lines, fmt.Sprintf("This account is FROZEN (%v).", reason))
	}
	if v.OshOnly == 1 {
		lines = append(lines, "May only run --osh commands (no connection to servers).")
	}
	word := map[bool]string{true: "configured", false: "not configured"}
	lines = append(lines, fmt.Sprintf("MFA: password %s, TOTP %s.", word[v.MFAPasswordConfigured == 1], word[v.MFATOTPConfigured == 1]))
	req := func(required, bypass int) string {
		switch {
		case required == 1:
			return "yes"
		case bypass == 1:
			return "bypass"
		}
		return "no"
	}
	yn := map[bool]string{true: "yes", false: "no"}
	lines = append(lines, fmt.Sprintf("MFA required: password %s, TOTP %s; personal accesses ask: %s.", req(v.MFAPasswordRequired, v.MFAPasswordBypass),
		req(v.MFATOTPRequired, v.MFATOTPBypass), v.PersonalEgressMFARequired))
	lines = append(lines, fmt.Sprintf("Key only, second factors bypassed (pam-auth-bypass): %s; key optional (pubkey-auth-optional): %s.", yn[v.PamAuthBypass == 1], yn[v.PubkeyAuthOptional == 1]))
	last := "never (this account has NEVER been used yet)"
	if la := v.LastActivity; la != nil {
		last = fmt.Sprintf("%s (%s ago)", la.DatetimeUTC, la.Ago)
	}
	inactive := "the bastion's setting"
	if d := v.MaxInactiveDays; d != nil {
		inactive = fmt.Sprintf("%d days", *d)
		if *d == 0 {
			inactive = "never"
		}
	}
	lines = append(lines, fmt.Sprintf("Last seen on %s; expires after inactivity: %s%s.", last, inactive,
		map[bool]string{true: " (always active)", false: ""}[v.AlwaysActive == 1]))
	if v.Comment != "" {
		lines = append(lines, "Comment: "+v.Comment)
	}
	return lines
}

// InfoInput is what accountInfo's value is made of, read before the decision of what to show.
type InfoInput struct {
	Account store.Account
	// CallerAuditor: the caller is an auditor (or an admin). The Bastion shows the rest of an
	// account (TTL, freeze, activity, creation, MFA, settings) to auditors only; an account
	// merely granted accountInfo sees the roles, the grants, the groups and the activeness.
	CallerAuditor bool
	Now           time.Time
	// GlobalMaxInactiveDays is accountMaxInactiveDays, for the activeness.
	GlobalMaxInactiveDays int
	// ListedAlwaysActive: the account is in alwaysActiveAccounts.
	ListedAlwaysActive bool
	// Groups are the account's groups with their roles (nil: not asked, shown as {}).
	Groups map[string][]string
	// GroupList is Groups as accountInfo --all reads them for every account at once
	// (RolesByAccount), added to Groups.
	GroupList []store.GroupRoles
	// PasswordConfigured, TOTPConfigured: the account's second factors (auditors only).
	PasswordConfigured, TOTPConfigured bool
	// PasswordChanged is when the password was set (accountList --audit's password_*).
	PasswordChanged time.Time
}

// roleGrants are the pseudo-commands that give roles: accountInfo shows them as is_admin,
// is_superowner and is_auditor, not among the granted commands.
var roleGrants = map[string]bool{osh.GrantAdmin: true, osh.GrantSuperOwner: true, osh.GrantAuditor: true}

// Info is accountInfo's JSON value for one account as an auditor sees it, and (AuditRow)
// accountList --audit's. It was a map per account; at 10,000 accounts building and encoding
// those maps took 300-500 ms (issue 14), a struct a fraction of that. The fields are in the
// order encoding/json wrote the map's keys (sorted), so the bytes are the same as before
// (TestInfoStructsEncodeAsMaps): The Bastion's encoder gives no order of its own. A key that is
// present only in some answers is a pointer, an interface or a string with omitempty, or a map
// with omitzero; a key that is null when unset is a pointer without omitempty.
type Info struct {
	Account                   string          `json:"account"`
	AccountEgressSSHConfig    EgressSSHConfig `json:"account_egress_ssh_config"`
	AllowedCommands           []string        `json:"allowed_commands"`
	AlreadySeenBefore         int             `json:"already_seen_before"`
	AlwaysActive              int             `json:"always_active"`
	AlwaysActiveReason        string          `json:"always_active_reason,omitempty"`
	CanConnect                int             `json:"can_connect"`
	Comment                   string          `json:"comment"`
	Created                   int64           `json:"created"`
	CreatedBy                 string          `json:"created_by"`
	CreationInformation       CreationInfo    `json:"creation_information"`
	EffectiveIngressPIVPolicy int             `json:"effective_ingress_piv_policy"`
	EgressKeys                any             `json:"egress_keys,omitempty"`   // --with-egress-keys
	ExpiredDays               *int            `json:"expired_days,omitempty"`  // accountList --audit, expired accounts
	FreezeInfo                *FreezeInfo     `json:"freeze_info,omitempty"`   // frozen accounts
	FreezeReason              *string         `json:"freeze_reason,omitempty"` // accountList --audit, frozen accounts
	GlobalIngressPolicy       int             `json:"global_ingress_policy"`
	Groups                    InfoGroups      `json:"groups,omitzero"` // accountInfo: {} without groups
	IdleIgnore                int             `json:"idle_ignore"`
	IngressPIVEnforced        int             `json:"ingress_piv_enforced"`
	IngressPIVGrace           PIVGrace        `json:"ingress_piv_grace"`
	IngressPIVPolicy          *struct{}       `json:"ingress_piv_policy"` // null: PIV is not in gatehouse
	IsActive                  int             `json:"is_active"`
	IsAdmin                   *int            `json:"is_admin,omitempty"` // accountInfo: only when 1
	IsAuditor                 *int            `json:"is_auditor,omitempty"`
	IsExpired                 int             `json:"is_expired"`
	IsFrozen                  int             `json:"is_frozen"`
	IsSuperOwner              *int            `json:"is_superowner,omitempty"`
	IsTTLExpired              int             `json:"is_ttl_expired"`
	IsTTLSet                  int             `json:"is_ttl_set"`
	LastActivity              *LastActivity   `json:"last_activity"`
	LastActivityTimestamp     int64           `json:"last_activity_timestamp,omitempty"` // accountList --audit
	MaxInactiveDays           *int            `json:"max_inactive_days"`
	MFAPasswordBypass         int             `json:"mfa_password_bypass"`
	MFAPasswordConfigured     int             `json:"mfa_password_configured"`
	MFAPasswordRequired       int             `json:"mfa_password_required"`
	MFATOTPBypass             int             `json:"mfa_totp_bypass"`
	MFATOTPConfigured         int             `json:"mfa_totp_configured"`
	MFATOTPRequired           int             `json:"mfa_totp_required"`
	Name                      string          `json:"name,omitempty"` // accountList --audit
	OshOnly                   int             `json:"osh_only"`
	PamAuthBypass             int             `json:"pam_auth_bypass"`
	Password                  any             `json:"password,omitempty"` // --with-mfa-password-info
	*AuditPassword                            // accountList --audit: password_* (not with --no-password-info)
	PersonalEgressMFARequired string          `json:"personal_egress_mfa_required"`
	PubkeyAuthOptional        int             `json:"pubkey_auth_optional"`
	TTLExpiredDetails         *TTLDetails     `json:"ttl_expired_details,omitempty"` // accountList --audit, TTL expired
	TTLExpires                *int64          `json:"ttl_expires"`
	TTLTimestamp              *int64          `json:"ttl_timestamp"`

	// auditorView: the caller is an auditor; else Value shows the basic keys only.
	auditorView bool
}

// InfoBasic is what an account granted accountInfo, not an auditor, sees of another (see
// InfoInput.CallerAuditor); its keys are Info's of the same names.
type InfoBasic struct {
	Account            string     `json:"account"`
	AllowedCommands    []string   `json:"allowed_commands"`
	AlwaysActive       int        `json:"always_active"`
	AlwaysActiveReason string     `json:"always_active_reason,omitempty"`
	Groups             InfoGroups `json:"groups"`
	IsActive           int        `json:"is_active"`
	IsAdmin            *int       `json:"is_admin,omitempty"`
	IsAuditor          *int       `json:"is_auditor,omitempty"`
	IsSuperOwner       *int       `json:"is_superowner,omitempty"`
}

// InfoGroups is accountInfo's "groups": group name → the account's roles there.
type InfoGroups map[string]InfoGroup

// InfoGroup is one group of InfoGroups.
type InfoGroup struct {
	Flags []string `json:"flags"`
	Name  string   `json:"name"`
}

// EgressSSHConfig is account_egress_ssh_config (see egressSSHConfig).
type EgressSSHConfig struct {
	Items *EgressSSHItems `json:"items,omitempty"`
	Type  string          `json:"type"`
}

// EgressSSHItems are the ssh_config items of a "custom" EgressSSHConfig, in lower case.
type EgressSSHItems struct {
	ControlMaster         string `json:"controlmaster,omitempty"`
	ControlPath           string `json:"controlpath,omitempty"`
	StrictHostKeyChecking string `json:"stricthostkeychecking,omitempty"`
	UserKnownHostsFile    string `json:"userknownhostsfile,omitempty"`
}

// CreationInfo is creation_information.
type CreationInfo struct {
	By            string `json:"by"`
	Comment       string `json:"comment"`
	DatetimeLocal string `json:"datetime_local"`
	DatetimeUTC   string `json:"datetime_utc"`
	Timestamp     int64  `json:"timestamp"`
}

// LastActivity is accountInfo's last_activity, null for an account never seen; in accountList
// --audit it is The Bastion's sentence there instead (sentence, see fillAuditRow).
type LastActivity struct {
	Ago           string `json:"ago"`
	DatetimeLocal string `json:"datetime_local"`
	DatetimeUTC   string `json:"datetime_utc"`
	Timestamp     int64  `json:"timestamp"`

	sentence string
}

// FreezeInfo is freeze_info.
type FreezeInfo struct {
	Reason string `json:"reason"`
}

// PIVGrace is ingress_piv_grace (PIV is not in gatehouse: never enabled).
type PIVGrace struct {
	Enabled int `json:"enabled"`
}

// Value is the JSON value accountInfo answers with: the whole Info for an auditor, the basic
// keys for anyone else.
func (v *Info) Value() any {
	if v.auditorView {
		return v
	}
	return &InfoBasic{Account: v.Account, AllowedCommands: v.AllowedCommands, AlwaysActive: v.AlwaysActive,
		AlwaysActiveReason: v.AlwaysActiveReason, Groups: v.Groups, IsActive: v.IsActive, IsAdmin: v.IsAdmin,
		IsAuditor: v.IsAuditor, IsSuperOwner: v.IsSuperOwner}
}

// flagValues are what the role flags point at (shared, never written): is_admin and the others
// are absent from accountInfo when false, 0 or 1 in accountList --audit.
var flagValues = [2]int{0, 1}

func flag(x bool) *int { return &flagValues[common.Bool(x)] }

// InfoValue is accountInfo's JSON value for one account, in The Bastion's shape: integer
// booleans, is_admin/is_superowner/is_auditor present only when true, max_inactive_days null
// when the account has no value of its own. What it holds depends on CallerAuditor only
// (Value): a pure function, so that least privilege is decided in one place and tested as a
// table.
func InfoValue(in InfoInput) *Info {
	v := new(Info)
	fillInfo(v, in)
	return v
}

// fillInfo is InfoValue into v, which holds nothing but, maybe, an empty Groups map to reuse
// (infoLazy makes 10,000 in a row into one Info).
func fillInfo(v *Info, in InfoInput) {
	a := in.Account
	b := common.Bool
	v.Account, v.auditorView = a.Name, in.CallerAuditor
	if a.HasGrant(osh.GrantAdmin) {
		v.IsAdmin = flag(true)
	}
	if a.HasGrant(osh.GrantAdmin) || a.HasGrant(osh.GrantSuperOwner) {
		v.IsSuperOwner = flag(true)
	}
	if a.HasGrant(osh.GrantAuditor) {
		v.IsAuditor = flag(true)
	}
	v.AllowedCommands = []string{}
	for _, g := range a.Grants {
		if !roleGrants[g] {
			v.AllowedCommands = append(v.AllowedCommands, g)
		}
	}
	sort.Strings(v.AllowedCommands)
	if v.Groups == nil {
		v.Groups = make(InfoGroups, len(in.Groups)+len(in.GroupList))
	}
	for name, roles := range in.Groups {
		v.Groups[name] = InfoGroup{Name: name, Flags: roles}
	}
	for _, gr := range in.GroupList {
		v.Groups[gr.Group] = InfoGroup{Name: gr.Group, Flags: gr.Roles}
	}
	v.AlwaysActive = b(a.AlwaysActive || in.ListedAlwaysActive)
	switch {
	case a.AlwaysActive:
		v.AlwaysActiveReason = "account local configuration"
	case in.ListedAlwaysActive:
		v.AlwaysActiveReason = "account listed in global configuration"
		a.AlwaysActive = true // for the activeness below
	}
	frozen := a.Frozen
	ttlExpired := !a.ExpiresAt.IsZero() && !in.Now.Before(a.ExpiresAt)
	_, inactive := osh.InactivityExpired(&a, in.Now, in.GlobalMaxInactiveDays)
	v.IsActive = b(!frozen && !ttlExpired && !inactive)
	if !in.CallerAuditor {
		return
	}
	v.IsTTLSet = b(!a.ExpiresAt.IsZero())
	v.IsTTLExpired = b(ttlExpired)
	if !a.ExpiresAt.IsZero() {
		ts := a.ExpiresAt.Unix()
		v.TTLTimestamp, v.TTLExpires = &ts, &ts
	}
	v.IsFrozen = b(frozen)
	if frozen {
		v.FreezeInfo = &FreezeInfo{Reason: a.FrozenReason}
	}
	v.IsExpired = b(inactive)
	v.CanConnect = b(!frozen && !ttlExpired && !inactive)
	v.AlreadySeenBefore = b(!a.LastSeenAt.IsZero())
	// The dates' texts are made in one string, cut in parts: five strings per account were a
	// tenth of accountInfo --all's allocations at 10,000 accounts (issue 14).
	var buf [192]byte
	t := a.CreatedAt.UTC().AppendFormat(buf[:0], utcLayout)
	cut := [5]int{len(t)}
	t = a.CreatedAt.Local().AppendFormat(t, localLayout)
	cut[1] = len(t)
	if !a.LastSeenAt.IsZero() {
		t = a.LastSeenAt.UTC().AppendFormat(t, utcLayout)
		cut[2] = len(t)
		t = a.LastSeenAt.Local().AppendFormat(t, localLayout)
		cut[3] = len(t)
		t = osh.AppendHumanDuration(t, in.Now.Sub(a.LastSeenAt))
		cut[4] = len(t)
	}
	texts := string(t)
	if !a.LastSeenAt.IsZero() {
		v.LastActivity = &LastActivity{
			DatetimeUTC:   texts[cut[1]:cut[2]],
			DatetimeLocal: texts[cut[2]:cut[3]],
			Ago:           texts[cut[3]:cut[4]],
			Timestamp:     a.LastSeenAt.Unix(),
		}
	}
	v.CreationInformation = CreationInfo{
		By: a.CreatedBy, Comment: a.Comment, Timestamp: a.CreatedAt.Unix(),
		DatetimeUTC:   texts[:cut[0]],
		DatetimeLocal: texts[cut[0]:cut[1]],
	}
	// gatehouse's own names for the same facts, kept for its existing scripts.
	v.CreatedBy, v.Comment, v.Created = a.CreatedBy, a.Comment, a.CreatedAt.Unix()
	v.AccountEgressSSHConfig = egressSSHConfig(a.Settings)
	// PIV is not in gatehouse: ingress_piv_* and the policies stay 0 and null.
	set := func(k string) string { return a.Settings[k] }
	v.MFAPasswordRequired = b(set("mfa_password_required") == "yes")
	v.MFAPasswordBypass = b(set("mfa_password_required") == "bypass")
	v.MFAPasswordConfigured = b(in.PasswordConfigured)
	v.MFATOTPRequired = b(set("mfa_totp_required") == "yes")
	v.MFATOTPBypass = b(set("mfa_totp_required") == "bypass")
	v.MFATOTPConfigured = b(in.TOTPConfigured)
	v.PamAuthBypass = b(set("pam_auth_bypass") == "yes")
	v.PubkeyAuthOptional = b(set("pubkey_auth_optional") == "yes")
	v.PersonalEgressMFARequired = "none"
	if p := set("personal_egress_mfa_required"); p != "" {
		v.PersonalEgressMFARequired = p
	}
	v.IdleIgnore = b(set("idle_ignore") == "yes")
	if a.MaxInactiveDays >= 0 {
		d := a.MaxInactiveDays
		v.MaxInactiveDays = &d
	}
	v.OshOnly = b(a.OshOnly)
}

// egressSSHConfig is account_egress_ssh_config: "default" without an override, else "custom"
// with the ssh_config items the account's settings stand for, named in lower case as The
// Bastion reads them from the account's ssh config file.
// The layouts of the dates accountInfo shows.
const (
	utcLayout   = "Mon 2006-01-02 15:04:05 UTC"
	localLayout = "Mon 2006-01-02 15:04:05 MST"
)

func egressSSHConfig(s map[string]string) EgressSSHConfig {
	if len(s) == 0 {
		return EgressSSHConfig{Type: "default"} // most accounts: no item to allocate
	}
	var items EgressSSHItems
	switch s["egress_strict_host_key_checking"] {
	case "", "default":
	case "bypass":
		items.StrictHostKeyChecking, items.UserKnownHostsFile = "no", "/dev/null"
	default:
		items.StrictHostKeyChecking = s["egress_strict_host_key_checking"]
	}
	switch s["egress_session_multiplexing"] {
	case "yes":
		items.ControlMaster, items.ControlPath = "auto", "~/.ssh/sockets/%C"
	case "no":
		items.ControlMaster, items.ControlPath = "no", "none"
	}
	if items == (EgressSSHItems{}) {
		return EgressSSHConfig{Type: "default"}
	}
	it := items // only an account with items allocates them
	return EgressSSHConfig{Type: "custom", Items: &it}
}
