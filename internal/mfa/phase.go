package mfa

import (
	"context"
	"errors"
	"fmt"
	"io"

	"gatehouse/internal/mfa/policy"
)

// RunJIT runs a JIT MFA phase before an action, printing to out what The Bastion prints:
// the "entering MFA phase" line, then a refusal, a skip line, or the factors' prompts and
// "pamtester: successfully authenticated". It returns the Result, or the Refusal to exit with
// (whose message the caller prints with its usual "⛔" framing and JSON error_code).
//
// in.Account.Configured must match cred (which factors exist). out is the session's terminal;
// write errors end the phase without access.
func (c *Challenger) RunJIT(ctx context.Context, out io.Writer, prompt PromptFunc, g policy.Global, in policy.JITInput, cred Credentials) (Result, *policy.Refusal) {
	d, refusal := policy.JIT(g, in)
	if !d.Need.Required() && refusal == nil {
		return Result{}, nil
	}
	if _, err := fmt.Fprintln(out, policy.EnteringLine(in.Action, in.Account.Name)); err != nil {
		return Result{}, policy.FailedRefusal()
	}
	if refusal != nil {
		return Result{}, refusal
	}
	switch d.Skip {
	case policy.SkipBypass:
		_, err := fmt.Fprintln(out, policy.SkipBypassLine)
		return Result{}, refusalIf(err)
	case policy.SkipProactive:
		_, err := fmt.Fprintln(out, policy.SkipProactiveLine)
		return Result{}, refusalIf(err)
	}
	return c.challengeAndReport(ctx, out, prompt, cred, d.Ask)
}

// RunProactive runs the MFA phase of --proactive-mfa (interactive=false) or of the interactive
// mode's `mfa` built-in (interactive=true): policy.Decide with ActionProactive, i.e. every
// configured password/TOTP factor. On success the caller records Result.Passed as proofs
// (policy.Proof) for the rest of their validity, and, in the interactive mode, starts a
// policy.Elevation and prints its ElevatedLines. A proof only ever stands for its own factor: a
// chat code or an approval that an action requires is still asked then.
func (c *Challenger) RunProactive(ctx context.Context, out io.Writer, prompt PromptFunc, account policy.Account, cred Credentials, interactive bool) (Result, *policy.Refusal) {
	line := policy.ProactiveEnteringLine(account.Name)
	if interactive {
		line = policy.InteractiveEnteringLine
	}
	if _, err := fmt.Fprintln(out, line); err != nil {
		return Result{}, policy.FailedRefusal()
	}
	d, r := policy.Decide(policy.Global{}, policy.JITInput{Action: policy.ActionProactive, Account: account})
	if r != nil {
		return Result{}, r
	}
	return c.challengeAndReport(ctx, out, prompt, cred, d.Ask)
}

func (c *Challenger) challengeAndReport(ctx context.Context, out io.Writer, prompt PromptFunc, cred Credentials, ask policy.Factors) (Result, *policy.Refusal) {
	res, err := c.Challenge(ctx, prompt, cred, ask)
	if err != nil {
		fmt.Fprintln(out, policy.FailureLine)
		var e *Error
		if errors.As(err, &e) {
			return Result{}, e.Refusal()
		}
		return Result{}, policy.FailedRefusal()
	}
	if _, err := fmt.Fprintln(out, policy.SuccessLine); err != nil {
		return Result{}, policy.FailedRefusal()
	}
	return res, nil
}

func refusalIf(err error) *policy.Refusal {
	if err != nil {
		return policy.FailedRefusal()
	}
	return nil
}
