package pamverify

import (
	"context"
	"errors"

	"gatehouse/internal/mfa"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/mfaauth"
)

// TOTPChecker checks a code with the bastion's own factors: the same key as at the bastion, the
// same replay protection (the last accepted step per account, so a code used at the bastion or
// on one server is refused on every other), the same rate limits and lockout, and scratch codes.
func TOTPChecker(a *mfaauth.Auth) func(ctx context.Context, account, code string) FactorResult {
	return func(ctx context.Context, account, code string) FactorResult {
		f, err := a.Load(ctx, account)
		if err != nil {
			return FactorError
		}
		if !f.Configured.Has(policy.TOTP) {
			return FactorMissing
		}
		sc, err := a.Scratch(ctx)
		if err != nil {
			return FactorError
		}
		var reason string
		ch := &mfa.Challenger{TOTP: a.Verifier(), Scratch: sc, Limiter: a.Limiter(), MaxTries: 1, Now: a.Now,
			Observer: mfa.ObserverFunc(func(_ context.Context, e mfa.Event) {
				if e.Kind == mfa.EventFail {
					reason = e.Reason
				}
			})}
		asked := false
		// The answer came with the request: the "prompt" hands it over once.
		prompt := func(context.Context, string, string, []string, []bool) ([]string, error) {
			if asked {
				return nil, errors.New("one answer per request")
			}
			asked = true
			return []string{code}, nil
		}
		_, err = ch.Challenge(ctx, prompt, f.Cred, policy.TOTP)
		var me *mfa.Error
		switch {
		case err == nil:
			return FactorOK
		case errors.As(err, &me) && (me.Kind == mfa.KindRateLimited || me.Kind == mfa.KindLocked):
			return FactorLimited
		case errors.As(err, &me) && me.Kind == mfa.KindFailed && reason == "code already used":
			return FactorReplayed
		case errors.As(err, &me) && (me.Kind == mfa.KindFailed || me.Kind == mfa.KindAnswerTooLong):
			return FactorWrong
		default:
			return FactorError
		}
	}
}
