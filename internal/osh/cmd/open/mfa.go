package open

import (
	"context"
	"crypto/subtle"
	"errors"
	"strconv"
	"strings"

	"gatehouse/internal/audit"
	"gatehouse/internal/mfa/limit"
	"gatehouse/internal/mfa/password"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/mfa/totp"
	"gatehouse/internal/mfaauth"
	"gatehouse/internal/osh"
)

// RegisterMFA adds the commands with which an account manages its own second factors. Their
// built-in MFA requirements are The Bastion's: resets need a factor (any), enrolling TOTP needs
// the existing factor when there is one (any-if-configured), and both setups run before the
// setup gate lets anything else run.
func RegisterMFA(r *osh.Registry) {
	r.Add(
		&osh.Command{Name: "selfMFASetupPassword", Category: osh.Open, ShowsSecrets: true, Summary: "setup a password as an additional authentication factor",
			MFASetupNotRequired: true, ReadsStdin: true,
			Options: []osh.Option{{Name: "yes", Kind: osh.Flag, Help: "don't ask for confirmation"}}, Run: selfMFASetupPassword},
		&osh.Command{Name: "selfMFAResetPassword", Category: osh.Open, Summary: "remove your password factor",
			MFARequired: string(policy.RequireAny), Run: selfMFAResetPassword},
		&osh.Command{Name: "selfMFASetupTOTP", Category: osh.Open, ShowsSecrets: true, Summary: "setup TOTP (an authenticator app) as an additional authentication factor",
			MFASetupNotRequired: true, MFARequired: string(policy.RequireAnyIfConfigured), ReadsStdin: true,
			Options: []osh.Option{{Name: "no-confirm", Kind: osh.Flag, Help: "don't ask for a first code to confirm the enrolment"}}, Run: selfMFASetupTOTP},
		&osh.Command{Name: "selfMFAResetTOTP", Category: osh.Open, Summary: "remove your TOTP factor and its emergency scratch codes",
			MFARequired: string(policy.RequireAny), Run: selfMFAResetTOTP},
	)
}

// setupAllowed refuses the setup commands where The Bastion does: when MFA is disabled by
// policy. Unlike The Bastion they run in the interactive mode too (first-login enrolment walks
// through them there): each asks the factor it replaces, or the existing one, before anything.
func setupAllowed(c *osh.Call) *osh.Result {
	if c.Cfg().AccountMFAPolicy == string(policy.PolicyDisabled) {
		r := osh.Fail("", "ERR_DISABLED_BY_POLICY", "Sorry, Multi-Factor Authentication has been disabled by policy on this bastion")
		return &r
	}
	return nil
}

// maxPasswdTries is how many times each step of the password dialogue may be retried, as passwd.
const maxPasswdTries = 3

// selfMFASetupPassword is The Bastion's flow: without a password, a temporary one is made and
// shown ("enter this: …"); then passwd's dialogue asks the current password (the temporary
// one), the new one and the new one again. The temporary password lives only in this run: it
// is never stored, so a dialogue interrupted anywhere (Ctrl-C, EOF, a closed connection)
// leaves the account exactly as it was. The dialogue needs a terminal, checked before anything
// is shown.
func selfMFASetupPassword(ctx context.Context, c *osh.Call) osh.Result {
	if r := setupAllowed(c); r != nil {
		return *r
	}
	if !c.Sess.HasTerminal() {
		return osh.Fail("", "ERR_PASSWORD_CHANGE_FAILED", "Password unchanged: %v", mfaauth.ErrNoTerminal)
	}
	auth := mfaauth.New(c.Env.Deps())
	me := c.Caller().Name
	st, err := c.Env.Store.GetMFA(ctx, me)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot read your MFA settings: %v", err)
	}
	out := c.P.W
	now := c.Now()
	// checkCurrent checks the answer to "Current password": against the stored hash (counted
	// in the login's rate limit), or against the temporary password of this run.
	var checkCurrent func(string) (bool, error)
	if st.PasswordHash == "" || st.PasswordTemporary {
		// A temporary password left by an older version's interrupted run counts as none.
		if !c.Args.Has("yes") {
			c.P.Line("As you currently don't have any password set,\nwe'll setup a temporary one that you'll be asked to change right away.")
			c.P.Line("\nEnter 'y' to proceed, anything else to abort.\nNote that what you type will NOT be echoed on the terminal.")
			if ans, err := auth.Ask(ctx, c.Sess, out, ""); err != nil || ans != "y" {
				return osh.Result{Code: "OK_NO_CHANGE", Message: "Aborted per user request"}
			}
		}
		tmp, err := password.NewTemporary()
		if err != nil {
			return osh.Fail("", "ERR_INTERNAL", "cannot make a temporary password: %v", err)
		}
		checkCurrent = func(cur string) (bool, error) {
			return subtle.ConstantTimeCompare([]byte(cur), []byte(tmp)) == 1, nil
		}
		c.P.Line("We've set a temporary password so you can change it.")
		c.P.Line("On the prompt for your current UNIX password, enter this: %s", tmp)
	} else {
		if status := auth.Aging().Status(st.PasswordChanged, now); !status.CanChange(now) {
			return osh.Fail("", "ERR_PASSWORD_CHANGE_TOO_SOON", "You must wait longer to change your password: it may be changed from %s (MFAPasswordMinDays)",
				status.CanChangeAt.Format("2006/01/02"))
		}
		checkCurrent = func(cur string) (bool, error) { return auth.CheckPassword(ctx, me, cur, st.PasswordHash) }
	}
	c.P.Line("Changing your MFA password.")

	var current string
	for try := 1; ; try++ {
		cur, err := auth.AskPassword(ctx, c.Sess, out, "Current password: ")
		if err != nil {
			return osh.Fail("", "ERR_PASSWORD_CHANGE_FAILED", "Password unchanged: %v", err)
		}
		ok, err := checkCurrent(cur)
		if errors.Is(err, limit.ErrRateLimited) || errors.Is(err, limit.ErrLocked) {
			return osh.Fail("", "ERR_PASSWORD_CHANGE_FAILED", "Password unchanged: %v", err)
		}
		if err != nil {
			return osh.Fail("", "ERR_INTERNAL", "cannot check your password: %v", err)
		}
		if ok {
			current = cur
			break
		}
		c.P.Line("passwd: Authentication token manipulation error")
		if try == maxPasswdTries {
			return osh.Fail("", "ERR_PASSWORD_CHANGE_FAILED", "Password unchanged: the current password was wrong %d times", maxPasswdTries)
		}
	}
	for try := 1; try <= maxPasswdTries; try++ {
		n1, err := auth.AskPassword(ctx, c.Sess, out, "New password: ")
		if err != nil {
			return osh.Fail("", "ERR_PASSWORD_CHANGE_FAILED", "Password unchanged: %v", err)
		}
		n2, err := auth.AskPassword(ctx, c.Sess, out, "Retype new password: ")
		if err != nil {
			return osh.Fail("", "ERR_PASSWORD_CHANGE_FAILED", "Password unchanged: %v", err)
		}
		if n1 != n2 {
			c.P.Line("Sorry, passwords do not match.")
			continue
		}
		if err := mfaauth.CheckPasswordRule(n1, current); err != nil {
			c.P.Line("%v", err)
			continue
		}
		if err := auth.SetPassword(ctx, me, n1, false); err != nil {
			return osh.Fail("", "ERR_INTERNAL", "cannot store your password: %v", err)
		}
		c.P.Line("passwd: password updated successfully")
		value := map[string]any{"account": me}
		if ag := auth.Aging(); ag.MaxDays >= 0 {
			exp := ag.Status(now, now).ExpiresAt
			value["expires"] = exp.Unix()
			c.P.Line("Your password expires on %s.", exp.Format("2006/01/02"))
		}
		return osh.OK("", value)
	}
	return osh.Fail("", "ERR_PASSWORD_CHANGE_FAILED", "passwd: Have exhausted maximum number of retries for service; password unchanged")
}

// stillRequired refuses removing a factor the policy requires (accountMFAPolicy or the
// account's own --mfa-*-required yes): afterwards the account could do nothing.
func stillRequired(ctx context.Context, c *osh.Call, auth *mfaauth.Auth, without policy.Factor) *osh.Result {
	f, err := auth.Load(ctx, c.Caller().Name)
	if err != nil {
		r := osh.Fail("", "ERR_INTERNAL", "cannot read your MFA settings: %v", err)
		return &r
	}
	pa := mfaauth.PolicyAccount(*c.Caller(), f.Configured&^without)
	if ref := policy.SetupGate(auth.Global(), pa, policy.Command{}); ref != nil {
		r := osh.Fail("", "ERR_MFA_REQUIRED_BY_POLICY", "Sorry, this factor is required on your account by policy and can't be removed; an administrator may reset it")
		return &r
	}
	return nil
}

func selfMFAResetPassword(ctx context.Context, c *osh.Call) osh.Result {
	auth := mfaauth.New(c.Env.Deps())
	if r := stillRequired(ctx, c, auth, policy.Password); r != nil {
		return *r
	}
	me := c.Caller().Name
	had, err := c.Env.Store.ClearMFAPassword(ctx, me)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot remove your password: %v", err)
	}
	if !had {
		return osh.Result{Code: "OK_NO_CHANGE", Message: "You had no MFA password set", Value: map[string]any{"account": me}}
	}
	// After the fact (the password is gone): the log counts a failure and alerts.
	_ = auth.AuditEvent(ctx, "mfa.password_reset", audit.Fields{Account: me, Extra: map[string]string{"by": me}})
	c.P.Line("Your MFA password has been removed.")
	return osh.OK("", map[string]any{"account": me})
}

func selfMFAResetTOTP(ctx context.Context, c *osh.Call) osh.Result {
	auth := mfaauth.New(c.Env.Deps())
	if r := stillRequired(ctx, c, auth, policy.TOTP); r != nil {
		return *r
	}
	me := c.Caller().Name
	had, err := c.Env.Store.ClearMFATOTP(ctx, me)
	if err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot remove your TOTP: %v", err)
	}
	if !had {
		return osh.Result{Code: "OK_NO_CHANGE", Message: "You had no TOTP set", Value: map[string]any{"account": me}}
	}
	// After the fact (the TOTP is gone): the log counts a failure and alerts.
	_ = auth.AuditEvent(ctx, "mfa.totp_reset", audit.Fields{Account: me, Extra: map[string]string{"by": me}})
	c.P.Line("Your TOTP and its emergency scratch codes have been removed.")
	return osh.OK("", map[string]any{"account": me})
}

// selfMFASetupTOTP enrols a new TOTP key as google-authenticator does: the QR code, the secret
// and the otpauth URI, a first code to confirm (unless --no-confirm), then the emergency
// scratch codes. The key replaces any previous one only once confirmed. The QR code, secret
// and codes are written as they are inside the box (never wrapped), so that they scan and copy
// cleanly.
func selfMFASetupTOTP(ctx context.Context, c *osh.Call) osh.Result {
	if r := setupAllowed(c); r != nil {
		return *r
	}
	auth := mfaauth.New(c.Env.Deps())
	me := c.Caller().Name
	style := totp.QRASCII
	if c.Sess.PTY {
		style = totp.QRHalfBlocks
	}
	e, err := totp.NewEnrollment(me, c.Cfg().BastionName, totp.DefaultScratchCount, style)
	if err != nil {
		return osh.Fail("", "ERR_TOTP_SETUP_FAILED", "Couldn't setup TOTP for your account, try again! (%v)", err)
	}
	w := c.P.W
	c.P.Line("Scan this QR code with your authenticator app, or enter the secret key by hand:")
	if w, need := osh.TermWidth(c.Sess), qrWidth(e.QR)+2; w > 0 && need > w {
		// The terminal would wrap the code's rows: it could not be scanned.
		c.P.Line("Your terminal is %d columns wide and the QR code needs %d: widen it to scan the code, or type the secret key below.", w, need)
	}
	// Inside the box, as they are (never wrapped): the QR code keeps its quiet zone, so the
	// border beside it does not hinder scanning.
	c.P.Block(e.QR)
	c.P.Block("Your new secret key is: " + e.Secret)
	c.P.Block("otpauth URI: " + e.URI)
	enrol := mfaauth.TOTPEnrolment{Key: &e.Key, ScratchCodes: e.ScratchCodes, Source: "setup"}
	if !c.Args.Has("no-confirm") {
		// The confirmation code must be fresh; its step then seeds the replay protection, so
		// that the same code cannot log in afterwards.
		v := auth.Verifier()
		v.Steps = &totp.MemStepStore{}
		for try := 1; ; try++ {
			code, err := auth.Ask(ctx, c.Sess, w, c.P.Border()+"Enter code from app: ")
			if err != nil {
				return osh.Fail("", "ERR_TOTP_SETUP_FAILED", "Couldn't setup TOTP for your account, try again! (%v)", err)
			}
			step, err := v.Verify(ctx, me, e.Key, code)
			if err == nil {
				enrol.LastStep, enrol.HasLastStep = step, true
				c.P.Line("Code confirmed")
				break
			}
			// A wrong code the log cannot record ends the setup (no unaudited guessing).
			if err := auth.AuditEvent(ctx, "mfa.fail", audit.Fields{Account: me, Factor: "totp",
				Extra: map[string]string{"stage": "totp-setup", "try": strconv.Itoa(try)}}); err != nil {
				return osh.Fail("", "ERR_TOTP_SETUP_FAILED", "Couldn't setup TOTP for your account: the audit log cannot be written; nothing changed")
			}
			if try == maxPasswdTries {
				return osh.Fail("", "ERR_TOTP_SETUP_FAILED", "Couldn't setup TOTP for your account: the code was wrong %d times; nothing changed", maxPasswdTries)
			}
			c.P.Line("Code incorrect. Try again.")
		}
	}
	if err := auth.SaveTOTP(ctx, me, enrol); err != nil {
		return osh.Fail("", "ERR_INTERNAL", "cannot store your TOTP: %v", err)
	}
	c.P.Block(totp.ScratchCodesHeader)
	for _, sc := range e.ScratchCodes {
		c.P.Block("  " + sc)
	}
	c.P.Line("Multi-Factor Authentication enabled: your authenticator's code will be asked as configured on this bastion.")
	c.P.Line("Keep the scratch codes in a safe place: each may replace a code once.")
	return osh.OK("", map[string]any{"account": me, "scratch_codes": len(e.ScratchCodes), "confirmed": enrol.HasLastStep})
}

// qrWidth is the width in columns of the widest row of a rendered QR code.
func qrWidth(qr string) int {
	w := 0
	for _, l := range strings.Split(qr, "\n") {
		w = max(w, osh.DisplayWidth(l))
	}
	return w
}
