// Package mfa asks an account's second factors. It ties the factors (totp, password), the
// throttling (limit) and The Bastion's words (policy) together in a Challenger, which both
// immediate MFA (SSH keyboard-interactive) and JIT MFA (a prompt inside the session) call.
//
// Lifecycle: the caller decides what to ask with policy.ImmediateFactors or policy.JIT, loads the
// account's Credentials from its store, and calls Challenger.Challenge with a PromptFunc. The
// Challenger asks each factor (password first, then TOTP), up to MaxTries rounds, and returns the
// factors that passed or an *Error.
//
// Invariants: it fails closed — any error (prompt failure or client disconnect, context end,
// store error, malformed hash, over-long answer, rate limit, lockout) ends the challenge without
// access; a success is returned only when every requested factor passed in the same round.
// Answers are never logged nor put in events or errors.
package mfa

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gatehouse/internal/mfa/limit"
	"gatehouse/internal/mfa/password"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/mfa/totp"
)

// PromptFunc asks questions and returns one answer per question. It is x/crypto/ssh's
// KeyboardInteractiveChallenge with a context; it must return an error when the client goes away.
type PromptFunc func(ctx context.Context, name, instruction string, questions []string, echos []bool) ([]string, error)

// Credentials are an account's stored factors, loaded by the caller.
type Credentials struct {
	Account         string
	PasswordHash    string    // argon2id PHC string; "" when no password is set
	PasswordChanged time.Time // for ageing
	TOTP            *totp.Key // nil when the account has only scratch codes (or no TOTP)
	// TOTPLimits overrides the Challenger's limits for TOTP tries (an imported RATE_LIMIT).
	TOTPLimits *limit.Limits
}

// Defaults.
const (
	DefaultMaxTries  = 3
	DefaultMaxAnswer = 1024 // bytes
)

// Challenger runs MFA challenges. Set TOTP and Limiter; the rest has defaults.
type Challenger struct {
	TOTP           *totp.Verifier  // required to check TOTP codes
	Scratch        totp.Scratch    // scratch codes; a nil Store refuses every scratch code
	Limiter        *limit.Limiter  // required: every try is counted before the prompt
	Aging          password.Aging  // password expiry policy (zero value: never expires)
	PasswordParams password.Params // rehash below these; zero value means password.DefaultParams
	Observer       Observer        // optional audit sink
	MaxTries       int             // rounds; 0 means 3
	MaxAnswer      int             // bytes per answer; 0 means 1024
	Now            func() time.Time
}

// Result is a successful challenge.
type Result struct {
	Passed      policy.Factors
	ScratchUsed bool // a scratch code stood in for TOTP; tell the owner how many remain
	// PasswordExpired: the password matched but has expired. Allow nothing but changing it
	// (selfMFASetupPassword), as pam_unix forces a change.
	PasswordExpired bool
	// RehashedPassword, when not empty, is a new hash of the password just verified, made with
	// PasswordParams because the stored one is weaker; store it in place of the old one.
	RehashedPassword string
}

// ErrorKind classifies a failed challenge.
type ErrorKind int

const (
	KindFailed          ErrorKind = iota // MaxTries rounds failed
	KindRateLimited                      // too many tries recently
	KindLocked                           // locked after repeated failures, until accountUnlock
	KindAnswerTooLong                    // an answer longer than MaxAnswer
	KindAborted                          // the prompt failed: client gone, context ended
	KindPasswordBlocked                  // expired for more than MFAPasswordInactiveDays
	KindInternal                         // configuration or store error
)

var kindNames = [...]string{"failed", "rate-limited", "locked", "answer-too-long", "aborted", "password-blocked", "internal"}

func (k ErrorKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Error is a failed challenge. Every Error means: no access.
type Error struct {
	Kind ErrorKind
	Err  error // the cause, never containing an answer
}

func (e *Error) Error() string {
	if e.Err != nil {
		return "mfa: " + e.Kind.String() + ": " + e.Err.Error()
	}
	return "mfa: " + e.Kind.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Refusal is what to return to the user: KO_MFA_FAILED (exit 125) in every case, as The Bastion
// does, with a hint when waiting or an admin can help.
func (e *Error) Refusal() *policy.Refusal {
	r := policy.FailedRefusal()
	switch e.Kind {
	case KindRateLimited:
		r.Message += " (" + limit.ErrRateLimited.Error() + ")"
	case KindLocked:
		r.Message += " (" + lockReason(e.Err) + ")"
	case KindPasswordBlocked:
		r.Message += " (" + password.BlockedLine + ")"
	case KindAnswerTooLong:
		r.Message += " (answer too long)"
	}
	return r
}

func (c *Challenger) maxTries() int {
	if c.MaxTries > 0 {
		return c.MaxTries
	}
	return DefaultMaxTries
}

func (c *Challenger) maxAnswer() int {
	if c.MaxAnswer > 0 {
		return c.MaxAnswer
	}
	return DefaultMaxAnswer
}

func (c *Challenger) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Challenge asks factors (password, then TOTP) of cred's account through prompt, up to MaxTries
// rounds, a round stopping at its first wrong answer. It returns the factors that passed, or an
// *Error.
func (c *Challenger) Challenge(ctx context.Context, prompt PromptFunc, cred Credentials, factors policy.Factors) (Result, error) {
	if factors == 0 || factors&^(policy.Password|policy.TOTP) != 0 {
		return Result{}, &Error{Kind: KindInternal, Err: fmt.Errorf("nothing valid to ask (%d)", factors)}
	}
	if prompt == nil || c.Limiter == nil {
		return Result{}, &Error{Kind: KindInternal, Err: errors.New("Challenger needs a prompt and a Limiter")}
	}
	var res Result
	var status password.Status
	if factors.Has(policy.Password) {
		if cred.PasswordHash == "" {
			return Result{}, c.refuse(ctx, cred.Account, policy.Password, 0, &Error{Kind: KindInternal, Err: errors.New("password requested but none is set")})
		}
		status = c.Aging.Status(cred.PasswordChanged, c.now())
		if status.Blocked {
			return Result{}, c.refuse(ctx, cred.Account, policy.Password, 0, &Error{Kind: KindPasswordBlocked})
		}
	}
	if factors.Has(policy.TOTP) && cred.TOTP != nil && c.TOTP == nil {
		return Result{}, &Error{Kind: KindInternal, Err: errors.New("TOTP requested but the Challenger has no Verifier")}
	}
	for try := 1; try <= c.maxTries(); try++ {
		round := Result{}
		var passed policy.Factors
		for _, f := range factors.List() {
			ok, err := c.ask(ctx, prompt, cred, f, try, status, &round)
			if err != nil {
				return Result{}, err
			}
			if !ok {
				break
			}
			passed |= f
		}
		if passed == factors {
			res = round
			res.Passed = passed
			return res, nil
		}
	}
	return Result{}, &Error{Kind: KindFailed}
}

// ask runs one factor of one round: count the try, prompt, check. It returns false for a wrong
// answer and an error for anything that must end the challenge.
func (c *Challenger) ask(ctx context.Context, prompt PromptFunc, cred Credentials, f policy.Factor, try int, status password.Status, round *Result) (bool, error) {
	name, limits := "password", (*limit.Limits)(nil)
	if f == policy.TOTP {
		name, limits = "totp", cred.TOTPLimits
	}
	if err := ctx.Err(); err != nil {
		return false, c.refuse(ctx, cred.Account, f, try, &Error{Kind: KindAborted, Err: err})
	}
	attempt, err := c.Limiter.Begin(ctx, cred.Account, name, limits)
	switch {
	case errors.Is(err, limit.ErrRateLimited):
		return false, c.refuse(ctx, cred.Account, f, try, &Error{Kind: KindRateLimited, Err: err})
	case errors.Is(err, limit.ErrLocked):
		return false, c.refuse(ctx, cred.Account, f, try, &Error{Kind: KindLocked, Err: err})
	case err != nil:
		return false, c.refuse(ctx, cred.Account, f, try, &Error{Kind: KindInternal, Err: err})
	}

	instruction, question := policy.FactorBanner(f), policy.TOTPPrompt
	if f == policy.Password {
		question = policy.PasswordPrompt
		if line := status.ExpiryLine(); line != "" {
			instruction += "\n" + line
		}
	}
	c.emit(ctx, Event{Account: cred.Account, Factor: f, Kind: EventPrompt, Try: try})
	answers, err := prompt(ctx, "", instruction, []string{question}, []bool{false})
	if err == nil && len(answers) != 1 {
		err = fmt.Errorf("got %d answers to 1 question", len(answers))
	}
	if err != nil {
		// No answer, no guess: as pam_faillock, a prompt left unanswered is not a failure.
		_ = attempt.Abandon(ctx)
		return false, c.refuse(ctx, cred.Account, f, try, &Error{Kind: KindAborted, Err: err})
	}
	answer := answers[0]
	if len(answer) > c.maxAnswer() {
		_ = attempt.Done(ctx, false)
		return false, c.refuse(ctx, cred.Account, f, try, &Error{Kind: KindAnswerTooLong, Err: fmt.Errorf("%d bytes, more than %d", len(answer), c.maxAnswer())})
	}

	var ok bool
	var reason string
	var checkErr error
	switch f {
	case policy.Password:
		ok, reason, checkErr = c.checkPassword(cred, answer, status, round)
	case policy.TOTP:
		ok, reason, checkErr = c.checkTOTP(ctx, cred, answer, round)
	}
	if doneErr := attempt.Done(ctx, ok && checkErr == nil); doneErr != nil && checkErr == nil {
		checkErr = doneErr
	}
	if checkErr != nil {
		return false, c.refuse(ctx, cred.Account, f, try, &Error{Kind: KindInternal, Err: checkErr})
	}
	if !ok {
		c.emit(ctx, Event{Account: cred.Account, Factor: f, Kind: EventFail, Try: try, Reason: reason})
		return false, nil
	}
	if err := c.emitChecked(ctx, Event{Account: cred.Account, Factor: f, Kind: EventPass, Try: try, Reason: reason}); err != nil {
		// Fail closed: a pass the audit log cannot record lets nobody in.
		return false, c.refuse(ctx, cred.Account, f, try, &Error{Kind: KindInternal, Err: fmt.Errorf("audit the pass: %w", err)})
	}
	return true, nil
}

func (c *Challenger) checkPassword(cred Credentials, answer string, status password.Status, round *Result) (bool, string, error) {
	ok, err := password.Verify(answer, cred.PasswordHash)
	if err != nil {
		return false, "", fmt.Errorf("verifying password of %s: %w", cred.Account, err)
	}
	if !ok {
		return false, "wrong password", nil
	}
	round.PasswordExpired = status.Expired
	params := c.PasswordParams
	if params == (password.Params{}) {
		params = password.DefaultParams
	}
	if password.NeedsRehash(cred.PasswordHash, params) {
		if h, err := password.Hash(answer, params); err == nil {
			round.RehashedPassword = h
		}
	}
	if status.Expired {
		return true, "password expired", nil
	}
	return true, "", nil
}

func (c *Challenger) checkTOTP(ctx context.Context, cred Credentials, answer string, round *Result) (bool, string, error) {
	code := totp.NormalizeCode(answer)
	scratch := totp.IsScratchCode(code)
	if cred.TOTP != nil && (!scratch || cred.TOTP.Digits == 8) {
		_, err := c.TOTP.Verify(ctx, cred.Account, *cred.TOTP, code)
		switch {
		case err == nil:
			return true, "", nil
		case errors.Is(err, totp.ErrReplayed):
			return false, "code already used", nil
		case errors.Is(err, totp.ErrInvalidCode):
			if !scratch {
				return false, "wrong code", nil
			}
		default:
			return false, "", err
		}
	}
	if !scratch {
		return false, "wrong code", nil
	}
	if c.Scratch.Store == nil {
		return false, "wrong code", nil
	}
	err := c.Scratch.Consume(ctx, cred.Account, code)
	switch {
	case err == nil:
		round.ScratchUsed = true
		return true, "scratch code", nil
	case errors.Is(err, totp.ErrInvalidCode):
		return false, "wrong or used scratch code", nil
	}
	return false, "", err
}

func (c *Challenger) refuse(ctx context.Context, account string, f policy.Factor, try int, e *Error) error {
	reason := e.Kind.String()
	if e.Kind == KindInternal && e.Err != nil {
		reason += ": " + e.Err.Error()
	}
	c.emit(ctx, Event{Account: account, Factor: f, Kind: EventRefused, Try: try, Reason: reason})
	return e
}

func (c *Challenger) emit(ctx context.Context, e Event) {
	if c.Observer != nil {
		c.Observer.MFAEvent(ctx, e)
	}
}

// emitChecked is emit for an event that must be recorded: the observer's error, when it can
// give one (CheckedObserver).
func (c *Challenger) emitChecked(ctx context.Context, e Event) error {
	if co, ok := c.Observer.(CheckedObserver); ok {
		return co.MFAEventChecked(ctx, e)
	}
	c.emit(ctx, e)
	return nil
}

// lockReason is what the user reads when locked: the limiter's *LockedError says for how long.
func lockReason(err error) string {
	var le *limit.LockedError
	if errors.As(err, &le) {
		return le.Error()
	}
	return limit.ErrLocked.Error()
}

// LockReason is the readable reason of a refusal for a locked factor or too many tries at once,
// "" for any other error.
func LockReason(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return ""
	}
	switch e.Kind {
	case KindLocked:
		return lockReason(e.Err)
	case KindRateLimited:
		return limit.ErrRateLimited.Error()
	}
	return ""
}

// ImportedLimits turns an imported google_authenticator RATE_LIMIT into the TOTP limits of
// Credentials.TOTPLimits, keeping base's lockout; nil when the file had no RATE_LIMIT.
func ImportedLimits(rl *totp.GARateLimit, base limit.Limits) *limit.Limits {
	if rl == nil {
		return nil
	}
	base.Attempts, base.Window = rl.Attempts, time.Duration(rl.Seconds)*time.Second
	return &base
}
