package restricted

import (
	"context"
	"fmt"
	"regexp"
	"strconv"

	"gatehouse/internal/access"
	"gatehouse/internal/mfaauth"
	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

// modifier is one accountModify option: the values it takes and how it changes an account.
type modifier struct {
	opt     string
	choices []string
	// mfa marks the settings of the account's second factors: changing one's own is refused to
	// non-admins (access.ChangeModifyMFA).
	mfa bool
	// apply changes a; it returns whether anything changed.
	apply func(a *store.Account, v string) (bool, error)
}

func yesNo(get func(*store.Account) *bool) func(*store.Account, string) (bool, error) {
	return func(a *store.Account, v string) (bool, error) {
		p := get(a)
		want := v == "yes"
		if *p == want {
			return false, nil
		}
		*p = want
		return true, nil
	}
}

// setting stores a per-account flag; "default" removes it.
func setting(key string) func(*store.Account, string) (bool, error) {
	return func(a *store.Account, v string) (bool, error) {
		if a.Settings == nil {
			a.Settings = map[string]string{}
		}
		old, had := a.Settings[key]
		if v == "default" {
			delete(a.Settings, key)
			return had, nil
		}
		if had && old == v {
			return false, nil
		}
		a.Settings[key] = v
		return true, nil
	}
}

// modifiers are accountModify's options, in The Bastion's names; each sub-result is OK or
// OK_NO_CHANGE.
var modifiers = []modifier{
	{opt: "osh-only", choices: []string{"yes", "no"}, apply: yesNo(func(a *store.Account) *bool { return &a.OshOnly })},
	{opt: "always-active", choices: []string{"yes", "no"}, apply: yesNo(func(a *store.Account) *bool { return &a.AlwaysActive })},
	{opt: "idle-ignore", choices: []string{"yes", "no"}, apply: setting("idle_ignore")},
	{opt: "egress-strict-host-key-checking", choices: []string{"yes", "accept-new", "no", "ask", "default", "bypass"}, apply: setting("egress_strict_host_key_checking")},
	{opt: "egress-session-multiplexing", choices: []string{"yes", "no", "default"}, apply: setting("egress_session_multiplexing")},
	// MFA (internal/mfaauth reads them).
	{opt: "mfa-password-required", mfa: true, choices: []string{"yes", "no", "bypass"}, apply: defaultedSetting(mfaauth.SettingPasswordRequired, "no")},
	{opt: "mfa-totp-required", mfa: true, choices: []string{"yes", "no", "bypass"}, apply: defaultedSetting(mfaauth.SettingTOTPRequired, "no")},
	{opt: "pam-auth-bypass", mfa: true, choices: []string{"yes", "no"}, apply: defaultedSetting(mfaauth.SettingPAMAuthBypass, "no")},
	{opt: "pubkey-auth-optional", mfa: true, choices: []string{"yes", "no"}, apply: defaultedSetting(mfaauth.SettingPubkeyAuthOptional, "no")},
	{opt: "personal-egress-mfa-required", mfa: true, choices: []string{"password", "totp", "any", "webhook", "approval", "none"}, apply: defaultedSetting(mfaauth.SettingPersonalEgressMFA, "none")},
	// Chat factors (internal/notifywire delivers them) and the account's Slack identity.
	{opt: "mfa-webhook-required", mfa: true, choices: []string{"yes", "no", "bypass"}, apply: defaultedSetting(mfaauth.SettingWebhookRequired, "no")},
	{opt: "mfa-approval-required", mfa: true, choices: []string{"yes", "no", "bypass"}, apply: defaultedSetting(mfaauth.SettingApprovalRequired, "no")},
	{opt: "slack-user-id", mfa: true, apply: slackUserID},
	{opt: "max-inactive-days", apply: func(a *store.Account, v string) (bool, error) {
		n, err := strconv.Atoi(v)
		// Bounded: a larger number was stored as given and overflowed the inactivity check.
		if err != nil || n < -1 || n > osh.MaxInactiveDays {
			return false, fmt.Errorf("--max-inactive-days must be -1 (global), 0 (never) or a number of days up to %d", osh.MaxInactiveDays)
		}
		if a.MaxInactiveDays == n {
			return false, nil
		}
		a.MaxInactiveDays = n
		return true, nil
	}},
}

func modifyOptions() []osh.Option {
	opts := []osh.Option{accountOpt}
	for _, m := range modifiers {
		opts = append(opts, osh.Option{Name: m.opt, Kind: osh.String, Choices: m.choices})
	}
	return opts
}

func accountModify(ctx context.Context, c *osh.Call) osh.Result {
	a, r := target(ctx, c)
	if r != nil {
		return *r
	}
	var todo []modifier
	kind := access.ChangeModify
	for _, m := range modifiers {
		if c.Args.Has(m.opt) {
			todo = append(todo, m)
			if m.mfa {
				kind = access.ChangeModifyMFA
			}
		}
	}
	if r := guard(c, a, kind); r != nil {
		return *r
	}
	if len(todo) == 0 {
		return osh.Fail("", "ERR_MISSING_PARAMETER", "Nothing to modify: give at least one option (see --osh help)")
	}
	results := map[string]any{}
	r, err := update(ctx, c, a, access.AccountChange{Kind: kind}, func(x *store.Account) error {
		for _, m := range todo {
			key := underscore(m.opt)
			v := c.Args.String(m.opt)
			changed, err := m.apply(x, v)
			switch {
			case err != nil:
				results[key] = osh.Result{Code: "ERR_INVALID_PARAMETER", Message: err.Error()}
				return err
			case changed:
				results[key] = osh.Result{Code: "OK", Message: "OK", Value: v}
				c.P.Line("Setting %s to %s... done.", m.opt, v)
			default:
				results[key] = osh.Result{Code: "OK_NO_CHANGE", Message: "Nothing to change, " + m.opt + " is already " + v, Value: v}
				c.P.Line("%s is already %s, nothing to do.", m.opt, v)
			}
		}
		return nil
	})
	if r != nil {
		return *r
	}
	if err != nil {
		return osh.Fail("", "ERR_INVALID_PARAMETER", "No change made to %s: %v", a.Name, err)
	}
	return osh.OK("", results)
}

func underscore(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == '-' {
			b[i] = '_'
		}
	}
	return string(b)
}

var slackUserRe = regexp.MustCompile(`^(T[A-Z0-9]{2,20}/)?[UW][A-Z0-9]{2,20}$`)

// slackUserID maps the account to a Slack user ("T0123/U0456", or "U0456" in any workspace), so
// its clicks on Approve/Deny are recognised; "none" removes the mapping.
func slackUserID(a *store.Account, v string) (bool, error) {
	if v != "none" && !slackUserRe.MatchString(v) {
		return false, fmt.Errorf("--slack-user-id must be a Slack user id such as U0456ABCD or T0123ABCD/U0456ABCD, or none")
	}
	return defaultedSetting(mfaauth.SettingSlackUserID, "none")(a, v)
}
