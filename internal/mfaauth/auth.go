// Package mfaauth wires the MFA core (internal/mfa) into gatehouse: the SSH server's second
// factors (immediate MFA over keyboard-interactive), the command language's hooks (setup gate,
// JIT MFA, proactive MFA), the connector's MFA phase, and what the MFA commands need (setting a
// password, enrolling or importing TOTP, unlocking).
//
// Lifecycle: app builds one Auth over the store, the sealer and the live configuration and
// connects its methods; commands build their own with New(env), which shares everything that
// matters (all state is in the store). Each call loads the account's factors afresh, so a reset
// or an unlock takes effect at the next prompt.
//
// Invariants:
//   - Fail closed: a store error, an unreadable sealed key, a closed channel, a timeout or an
//     over-long answer refuses; nothing here grants access by default.
//   - Secrets stay sealed at rest (the TOTP key with purpose "totp-secret", the scratch code
//     MAC key with "mfa-scratch-key"); answers and secrets are never logged nor audited.
//   - Every prompt, pass, failure and refusal is reported through Audit.
package mfaauth

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/audit"
	"gatehouse/internal/config"
	"gatehouse/internal/mfa"
	"gatehouse/internal/mfa/limit"
	"gatehouse/internal/mfa/password"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/mfa/totp"
	"gatehouse/internal/seal"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

// Seal purposes: a value sealed for one cannot be opened as the other.
const (
	PurposeTOTP       = "totp-secret"
	PurposeScratchKey = "mfa-scratch-key"
)

// Account settings keys (accountModify's options with underscores).
const (
	SettingPasswordRequired   = "mfa_password_required"
	SettingTOTPRequired       = "mfa_totp_required"
	SettingPAMAuthBypass      = "pam_auth_bypass"
	SettingPubkeyAuthOptional = "pubkey_auth_optional"
	SettingPersonalEgressMFA  = "personal_egress_mfa_required"
)

// DefaultPromptTimeout bounds the wait for one answer inside a session.
const DefaultPromptTimeout = 2 * time.Minute

// Auth is the glue between the MFA core and gatehouse. Set Store, Sealer and Config; the rest
// has defaults. Safe for concurrent use.
type Auth struct {
	Store  store.Store
	Sealer *seal.Sealer
	Config func() *config.Config
	Now    func() time.Time
	Log    *slog.Logger
	// AppendAudit appends each MFA event to the audit log: "mfa.prompt", "mfa.pass", "mfa.fail",
	// "mfa.refused", "mfa.setup_required", "mfa.password_set", "mfa.totp_enrolled" … Fields
	// never hold an answer or a secret. A pass it cannot record is refused (fail closed). Nil:
	// the events are logged at Info.
	AppendAudit audit.AppendFunc
	// PasswordParams hash new passwords (zero: password.DefaultParams).
	PasswordParams password.Params
	// PromptTimeout bounds one answer in a session (zero: DefaultPromptTimeout).
	PromptTimeout time.Duration
	// Chat delivers the chat factors (webhook code, approval); nil: they are never delivered
	// (refused, or the configured fallback).
	Chat Chat

	slotsOnce sync.Once
	slots     chan struct{} // bounds concurrent argon2id verifications (memory)
	keyMu     sync.Mutex
	scratch   []byte // the scratch code MAC key, once opened

	// Logins without a key (stranger.go): the per-source throttle's sweeps and the decoy's hash.
	sourceCounts atomic.Uint64
	decoyOnce    sync.Once
	decoy        string
	decoyErr     error
}

// New returns an Auth over the server's store, sealer, configuration, clock, log and audit.
func New(d session.Deps) *Auth {
	return &Auth{Store: d.Store, Sealer: d.Sealer, Config: d.Config, Now: d.Now, Log: d.Log, AppendAudit: d.AppendAudit}
}

// maxPasswordChecks is how many argon2id verifications (19 MiB each by default) run at once.
const maxPasswordChecks = 4

func (a *Auth) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Auth) log() *slog.Logger {
	if a.Log != nil {
		return a.Log
	}
	return slog.Default()
}

// audit reports one event; a non-nil error means the audit log does not have it.
func (a *Auth) audit(ctx context.Context, typ string, f audit.Fields) error {
	if a.AppendAudit != nil {
		return a.AppendAudit(ctx, audit.Event{Type: typ, Fields: f})
	}
	fields := f.Map()
	args := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		args = append(args, k, v)
	}
	a.log().Info(typ, args...)
	return nil
}

// AuditEvent lets the MFA commands report enrolments, resets and unlocks. A non-nil error
// means the event is not in the log: the caller refuses an action not yet done, or only
// reports one already done (the log counts the failure and alerts).
func (a *Auth) AuditEvent(ctx context.Context, typ string, f audit.Fields) error {
	return a.audit(ctx, typ, f)
}

// Global is the server-wide MFA configuration in force.
func (a *Auth) Global() policy.Global {
	cfg := a.Config()
	g := policy.Global{Policy: policy.MFAPolicy(cfg.AccountMFAPolicy)}
	if cfg.MFAMode == "jit" {
		g.Mode = policy.ModeJIT
	}
	return g
}

// Aging is the password expiry policy in force. MFAPasswordMaxDays 0 means never.
func (a *Auth) Aging() password.Aging {
	cfg := a.Config()
	ag := password.Aging{MinDays: cfg.MFAPasswordMinDays, MaxDays: cfg.MFAPasswordMaxDays,
		WarnDays: cfg.MFAPasswordWarnDays, InactiveDays: cfg.MFAPasswordInactiveDays}
	if ag.MaxDays <= 0 {
		ag.MaxDays = -1
	}
	return ag
}

func (a *Auth) passwordParams() password.Params {
	if a.PasswordParams == (password.Params{}) {
		return password.DefaultParams
	}
	return a.PasswordParams
}

// Factors are an account's stored factors, opened for the Challenger.
type Factors struct {
	Stored     store.MFACredentials
	Cred       mfa.Credentials
	Configured policy.Factors
}

// Load reads and opens account's factors.
func (a *Auth) Load(ctx context.Context, account string) (Factors, error) {
	st, err := a.Store.GetMFA(ctx, account)
	if err != nil {
		return Factors{}, err
	}
	f := Factors{Stored: st, Cred: mfa.Credentials{Account: account}}
	if st.PasswordHash != "" && !st.PasswordTemporary {
		f.Configured |= policy.Password
		f.Cred.PasswordHash, f.Cred.PasswordChanged = st.PasswordHash, st.PasswordChanged
	}
	if st.TOTPSet {
		f.Configured |= policy.TOTP
		if len(st.TOTPSealed) > 0 {
			k, err := a.openKey(st.TOTPSealed)
			if err != nil {
				return Factors{}, fmt.Errorf("TOTP key of %s: %w", account, err)
			}
			f.Cred.TOTP = &k
		}
		if st.TOTPRateAttempts > 0 && st.TOTPRateSeconds > 0 {
			f.Cred.TOTPLimits = mfa.ImportedLimits(&totp.GARateLimit{Attempts: st.TOTPRateAttempts, Seconds: st.TOTPRateSeconds}, a.limits())
		}
	}
	return f, nil
}

func (a *Auth) openKey(sealed []byte) (totp.Key, error) {
	var k totp.Key
	if a.Sealer == nil {
		return k, errors.New("no sealer configured")
	}
	plain, err := a.Sealer.Open(PurposeTOTP, sealed)
	if err != nil {
		return k, err
	}
	if err := json.Unmarshal(plain, &k); err != nil {
		return k, fmt.Errorf("decode sealed key: %w", err)
	}
	if len(k.Secret) == 0 {
		return k, errors.New("sealed key has no secret")
	}
	return k, nil
}

func (a *Auth) sealKey(k totp.Key) ([]byte, error) {
	if a.Sealer == nil {
		return nil, errors.New("no sealer configured")
	}
	plain, err := json.Marshal(k)
	if err != nil {
		return nil, err
	}
	return a.Sealer.Seal(PurposeTOTP, plain)
}

// PolicyAccount is what the policy knows of acct. Unknown flag values count as "yes": stored
// data we do not understand must not turn MFA off.
func PolicyAccount(acct store.Account, configured policy.Factors) policy.Account {
	flag := func(key string) policy.Flag {
		v, ok := acct.Settings[key]
		if !ok {
			return policy.FlagNo
		}
		f, err := policy.ParseFlag(v)
		if err != nil {
			return policy.FlagYes
		}
		return f
	}
	return policy.Account{
		Name:               acct.Name,
		PasswordRequired:   flag(SettingPasswordRequired),
		TOTPRequired:       flag(SettingTOTPRequired),
		PAMAuthBypass:      acct.Settings[SettingPAMAuthBypass] == "yes",
		PubkeyAuthOptional: acct.Settings[SettingPubkeyAuthOptional] == "yes",
		PersonalEgressMFA:  policy.Requirement(acct.Settings[SettingPersonalEgressMFA]),
		Configured:         configured,
		WebhookRequired:    chatFlag(acct, SettingWebhookRequired),
		ApprovalRequired:   chatFlag(acct, SettingApprovalRequired),
	}
}

func (a *Auth) limits() limit.Limits {
	cfg := a.Config()
	return limit.Limits{Attempts: cfg.MFARateLimitAttempts, Window: time.Duration(cfg.MFARateLimitSeconds) * time.Second,
		LockAfter: cfg.MFALockAfterFailures, FailInterval: time.Duration(cfg.MFALockFailInterval) * time.Second,
		UnlockTime: time.Duration(cfg.MFALockUnlockTime) * time.Second}
}

// Limiter is the store-backed rate limiter in force.
func (a *Auth) Limiter() *limit.Limiter {
	return &limit.Limiter{Store: limitStore{a.Store}, Limits: a.limits(), Now: a.now}
}

// Scratch checks scratch codes under the sealed MAC key.
func (a *Auth) Scratch(ctx context.Context) (totp.Scratch, error) {
	key, err := a.scratchKey(ctx)
	if err != nil {
		return totp.Scratch{}, err
	}
	return totp.Scratch{Hasher: totp.ScratchHasher{Key: key}, Store: scratchStore{a.Store}}, nil
}

// scratchKey opens (creating it the first time) the key scratch codes are MACed with. It lives
// sealed in the store, so a copy of the database alone cannot be searched for codes.
func (a *Auth) scratchKey(ctx context.Context) ([]byte, error) {
	a.keyMu.Lock()
	defer a.keyMu.Unlock()
	if a.scratch != nil {
		return a.scratch, nil
	}
	if a.Sealer == nil {
		return nil, errors.New("no sealer configured")
	}
	sealed, err := a.Store.MFASecret(ctx, PurposeScratchKey, func() ([]byte, error) {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		return a.Sealer.Seal(PurposeScratchKey, k)
	})
	if err != nil {
		return nil, fmt.Errorf("scratch code key: %w", err)
	}
	k, err := a.Sealer.Open(PurposeScratchKey, sealed)
	if err != nil {
		return nil, fmt.Errorf("scratch code key: %w", err)
	}
	a.scratch = k
	return k, nil
}

// Verifier checks TOTP codes with the configured window and the store's replay protection.
func (a *Auth) Verifier() *totp.Verifier {
	w := a.Config().MFATOTPWindow
	return &totp.Verifier{Steps: stepStore{a.Store}, Now: a.now, Window: &totp.Window{Behind: w, Ahead: w}}
}

// challenger builds a Challenger for one challenge, reporting to the audit with base fields.
func (a *Auth) challenger(ctx context.Context, stage string, base audit.Fields) (*mfa.Challenger, error) {
	sc, err := a.Scratch(ctx)
	if err != nil {
		return nil, err
	}
	return &mfa.Challenger{
		TOTP: a.Verifier(), Scratch: sc, Limiter: a.Limiter(), Aging: a.Aging(),
		PasswordParams: a.passwordParams(), Now: a.now,
		Observer: mfa.CheckedObserverFunc(func(ctx context.Context, e mfa.Event) error {
			x := map[string]string{"stage": stage, "try": strconv.Itoa(e.Try)}
			if e.Reason != "" {
				x["reason"] = e.Reason
			}
			f := base.With(x)
			f.Account, f.Factor = e.Account, e.Factor.String()
			return a.audit(ctx, "mfa."+string(e.Kind), f) // a pass it cannot record is refused
		}),
	}, nil
}

// guard bounds concurrent argon2id runs: each prompt answer takes a slot until the next
// prompt or the end of the challenge, which covers the verification in between.
type guard struct {
	slots chan struct{}
	held  bool
}

func (g *guard) release() {
	if g.held {
		<-g.slots
		g.held = false
	}
}

func (a *Auth) guarded(ctx context.Context, p mfa.PromptFunc) (mfa.PromptFunc, *guard) {
	a.slotsOnce.Do(func() { a.slots = make(chan struct{}, maxPasswordChecks) })
	g := &guard{slots: a.slots}
	return func(ctx context.Context, name, instruction string, questions []string, echos []bool) ([]string, error) {
		g.release()
		answers, err := p(ctx, name, instruction, questions, echos)
		if err != nil {
			return nil, err
		}
		select {
		case g.slots <- struct{}{}:
			g.held = true
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return answers, nil
	}, g
}

// challenge runs one challenge and applies what a success asks for (a stronger hash).
func (a *Auth) challenge(ctx context.Context, ch *mfa.Challenger, prompt mfa.PromptFunc, f Factors, ask policy.Factors) (mfa.Result, error) {
	p, g := a.guarded(ctx, prompt)
	defer g.release()
	res, err := ch.Challenge(ctx, p, f.Cred, ask)
	if err == nil {
		a.afterSuccess(ctx, f, res)
	}
	return res, err
}

func (a *Auth) afterSuccess(ctx context.Context, f Factors, res mfa.Result) {
	if res.RehashedPassword != "" {
		if err := a.Store.RehashMFAPassword(ctx, f.Cred.Account, f.Cred.PasswordHash, res.RehashedPassword); err != nil {
			a.log().Warn("cannot store the stronger password hash", "account", f.Cred.Account, "err", err)
		}
	}
	if res.ScratchUsed {
		left := -1
		if st, err := a.Store.GetMFA(ctx, f.Cred.Account); err == nil {
			left = st.ScratchLeft
		}
		// After the fact: the log counts and alerts a failure.
		_ = a.audit(ctx, "mfa.scratch_code_used", audit.Fields{Account: f.Cred.Account, Extra: map[string]string{"scratch_codes_left": strconv.Itoa(left)}})
	}
}

// Store adapters: the MFA core's interfaces over store.MFA.

type stepStore struct{ s store.MFA }

func (s stepStore) Advance(ctx context.Context, account string, step int64) (bool, error) {
	return s.s.AdvanceTOTPStep(ctx, account, step)
}

func (s stepStore) Last(ctx context.Context, account string) (int64, bool, error) {
	return s.s.LastTOTPStep(ctx, account)
}

type scratchStore struct{ s store.MFA }

func (s scratchStore) Consume(ctx context.Context, account, hash string) (bool, error) {
	return s.s.ConsumeScratchCode(ctx, account, hash)
}

type limitStore struct{ s store.MFA }

func (s limitStore) Update(ctx context.Context, account, factor string, fn func(*limit.State) error) error {
	return s.s.UpdateMFALimit(ctx, account, factor, func(st *store.MFALimitState) error {
		ls := limit.State{Tries: st.Tries, Pending: st.Pending, Fails: st.Fails, Failures: st.Failures, Locked: st.Locked, LockedAt: st.LockedAt}
		if err := fn(&ls); err != nil {
			return err
		}
		st.Tries, st.Pending, st.Fails, st.Failures, st.Locked, st.LockedAt = ls.Tries, ls.Pending, ls.Fails, ls.Failures, ls.Locked, ls.LockedAt
		return nil
	})
}

func (s limitStore) Reset(ctx context.Context, account string) error {
	return s.s.ResetMFALimits(ctx, account)
}
