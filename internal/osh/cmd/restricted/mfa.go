package restricted

import (
	"context"
	"fmt"

	"gatehouse/internal/access"
	"gatehouse/internal/audit"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/mfa/totp"
	"gatehouse/internal/mfaauth"
	"gatehouse/internal/osh"
	"gatehouse/internal/osh/cmd/common"
	"gatehouse/internal/store"
)

// RegisterMFA adds the commands with which an administrator manages accounts' second factors.
func RegisterMFA(r *osh.Registry) {
	acct := []osh.Option{accountOpt}
	r.Add(
		&osh.Command{Name: "accountMFAResetPassword", Category: osh.Restricted, Summary: "remove the MFA password of an account",
			Options: acct, Run: accountMFAResetPassword},
		&osh.Command{Name: "accountMFAResetTOTP", Category: osh.Restricted, Summary: "remove the TOTP and scratch codes of an account",
			Options: acct, Run: accountMFAResetTOTP},
		&osh.Command{Name: "accountUnlock", Category: osh.Restricted, Summary: "clear the MFA lockout and throttling of an account",
			Options: acct, Run: accountUnlock},
		&osh.Command{Name: "accountMFAImportTOTP", Category: osh.Restricted, ReadsStdin: true,
			Summary: "import an account's ~/.google_authenticator file (read on standard input) as its TOTP factor",
			Options: acct, Run: accountMFAImportTOTP},
	)
}

// defaultedSetting stores a per-account setting (accountModify's MFA options) whose default
// value ("no", "none") is stored as its absence, so that setting the default on a fresh account
// is OK_NO_CHANGE, as The Bastion says.
func defaultedSetting(key, def string) func(*store.Account, string) (bool, error) {
	return func(a *store.Account, v string) (bool, error) {
		old, had := a.Settings[key]
		if !had {
			old = def
		}
		if old == v {
			return false, nil
		}
		if a.Settings == nil {
			a.Settings = map[string]string{}
		}
		if v == def {
			delete(a.Settings, key)
		} else {
			a.Settings[key] = v
		}
		return true, nil
	}
}

func accountMFAResetPassword(ctx context.Context, c *osh.Call) osh.Result {
	a, r := target(ctx, c)
	if r != nil {
		return *r
	}
	if r := guard(c, a, access.ChangeMFAReset); r != nil {
		return *r
	}
	had, err := c.Env.Store.ClearMFAPassword(ctx, a.Name)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot remove the password of %s: %v", a.Name, err)
	}
	if !had {
		return osh.Result{Code: "OK_NO_CHANGE", Message: fmt.Sprintf("Account %s has no MFA password", a.Name), Value: map[string]any{"account": a.Name}}
	}
	// After the fact (the password is gone): the log counts a failure and alerts.
	_ = mfaauth.New(c.Env.Deps()).AuditEvent(ctx, "mfa.password_reset", audit.Fields{Account: a.Name, Extra: map[string]string{"by": c.Caller().Name}})
	c.P.Line("The MFA password of %s has been removed.", a.Name)
	return osh.OK("", map[string]any{"account": a.Name})
}

func accountMFAResetTOTP(ctx context.Context, c *osh.Call) osh.Result {
	a, r := target(ctx, c)
	if r != nil {
		return *r
	}
	if r := guard(c, a, access.ChangeMFAReset); r != nil {
		return *r
	}
	had, err := c.Env.Store.ClearMFATOTP(ctx, a.Name)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot remove the TOTP of %s: %v", a.Name, err)
	}
	if !had {
		return osh.Result{Code: "OK_NO_CHANGE", Message: fmt.Sprintf("Account %s has no TOTP", a.Name), Value: map[string]any{"account": a.Name}}
	}
	// After the fact (the TOTP is gone): the log counts a failure and alerts.
	_ = mfaauth.New(c.Env.Deps()).AuditEvent(ctx, "mfa.totp_reset", audit.Fields{Account: a.Name, Extra: map[string]string{"by": c.Caller().Name}})
	c.P.Line("The TOTP and the emergency scratch codes of %s have been removed.", a.Name)
	return osh.OK("", map[string]any{"account": a.Name})
}

func accountUnlock(ctx context.Context, c *osh.Call) osh.Result {
	a, r := target(ctx, c)
	if r != nil {
		return *r
	}
	if r := guard(c, a, access.ChangeUnlock); r != nil {
		return *r
	}
	auth := mfaauth.New(c.Env.Deps())
	if err := auth.Unlock(ctx, a.Name); err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot unlock %s: %v", a.Name, err)
	}
	// After the fact (the counters are reset): the log counts a failure and alerts.
	_ = auth.AuditEvent(ctx, "mfa.unlock", audit.Fields{Account: a.Name, Extra: map[string]string{"by": c.Caller().Name}})
	c.P.Line("Account %s is unlocked: its MFA failure counters are reset.", a.Name)
	return osh.OK("", map[string]any{"account": a.Name})
}

// accountMFAImportTOTP reads a libpam-google-authenticator file, so that people keep their
// authenticator app when moving to gatehouse: its key (TOTP or HOTP, with its window, step and
// skew), RATE_LIMIT, scratch codes and the last used step (replayed codes stay refused).
func accountMFAImportTOTP(ctx context.Context, c *osh.Call) osh.Result {
	a, r := target(ctx, c)
	if r != nil {
		return *r
	}
	if r := guard(c, a, access.ChangeMFAImport); r != nil {
		return *r
	}
	c.P.Line("Paste the ~/.google_authenticator file of %s on standard input, then end it (^D).", a.Name)
	data, err := common.ReadAllInput(c, totp.GAMaxFileSize) // ends at ^D on a terminal
	if err != nil {
		return osh.Fail("", "ERR_BAD_INPUT", "cannot read the file: %v", err)
	}
	if len(data) > totp.GAMaxFileSize {
		return osh.Fail("", "ERR_BAD_INPUT", "the file is larger than %d bytes: this is not a google_authenticator file", totp.GAMaxFileSize)
	}
	f, err := totp.ParseGoogleAuthenticator(data)
	if err != nil { // a *totp.ParseError names the line
		return osh.Fail("", "ERR_INVALID_FILE", "Nothing imported: %v", err)
	}
	e := mfaauth.TOTPEnrolment{ScratchCodes: f.ScratchCodes, RateLimit: f.RateLimit, Source: "import"}
	mode := "scratch codes only"
	if k, ok := f.Key(); ok {
		e.Key = &k
		mode = "TOTP"
		if k.Kind == totp.KindHOTP {
			mode = "HOTP"
		}
	}
	e.LastStep, e.HasLastStep = f.LastUsedStep()
	if r := again(ctx, c, a, access.ChangeMFAImport); r != nil {
		return *r
	}
	if err := mfaauth.New(c.Env.Deps()).SaveTOTP(ctx, a.Name, e); err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot store the TOTP of %s: %v", a.Name, err)
	}
	c.P.Line("Imported for %s: %s, %d scratch code(s).", a.Name, mode, len(f.ScratchCodes))
	value := map[string]any{"account": a.Name, "mode": mode, "scratch_codes": len(f.ScratchCodes), "rate_limit": nil}
	if f.RateLimit != nil {
		value["rate_limit"] = map[string]int{"attempts": f.RateLimit.Attempts, "seconds": f.RateLimit.Seconds}
		c.P.Line("Its RATE_LIMIT of %d tries per %d seconds applies to its codes.", f.RateLimit.Attempts, f.RateLimit.Seconds)
	}
	if cfg := c.Cfg(); cfg.AccountMFAPolicy == string(policy.PolicyDisabled) {
		c.P.Line("Note: accountMFAPolicy is disabled on this bastion; factors already set are still asked at login.")
	}
	return osh.OK("", value)
}
