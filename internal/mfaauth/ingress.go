package mfaauth

import (
	"context"
	"errors"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/audit"
	"gatehouse/internal/ingress"
	"gatehouse/internal/mfa"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/netaddr"
	"gatehouse/internal/store"
)

var _ ingress.Authenticator = (*Auth)(nil)

// errRefused is all an SSH client learns of a refused factor.
var errRefused = errors.New("authentication refused")

// AfterPublicKey implements ingress.Authenticator: once the key is verified it asks, by
// keyboard-interactive, every factor policy.ImmediateFactors wants (none in JIT mode, for
// robots with --pam-auth-bypass, or when the account has no factor).
//
// The connection's deadline (loginGraceTime) bounds the whole exchange: the challenge cannot
// wait on a silent client longer than that.
func (a *Auth) AfterPublicKey(conn ssh.ConnMetadata, acct store.Account, perms *ssh.Permissions) (*ssh.Permissions, error) {
	ctx := context.Background()
	f, err := a.Load(ctx, acct.Name)
	if err != nil {
		a.loadFailed(ctx, conn, acct.Name, err)
		return nil, errRefused
	}
	im := policy.ImmediateFactors(a.Global(), PolicyAccount(acct, f.Configured))
	if im.Factors == 0 {
		return perms, nil
	}
	return nil, &ssh.PartialSuccessError{Next: ssh.ServerAuthCallbacks{
		KeyboardInteractiveCallback: finalChat(func(conn ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			if err := a.immediate(ctx, conn, acct, client, true); err != nil {
				return nil, err
			}
			return ingress.MarkFactorsOK(perms), nil
		}),
	}}
}

// WithoutPublicKey implements ingress.Authenticator: accounts with --pubkey-auth-optional and
// at least one factor may log in with their factors alone. Every other name (acct.Name "" for
// one that does not exist) gets the Decoy, so that the methods and prompts do not tell
// accounts apart (stranger.go).
func (a *Auth) WithoutPublicKey(conn ssh.ConnMetadata, acct store.Account) func(ssh.ConnMetadata, ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
	ctx := context.Background()
	if acct.Name == "" {
		return a.Decoy(conn.User())
	}
	f, err := a.Load(ctx, acct.Name)
	if err != nil {
		a.loadFailed(ctx, conn, acct.Name, err)
		return a.Decoy(conn.User())
	}
	if im := policy.ImmediateFactors(a.Global(), PolicyAccount(acct, f.Configured)); im.PublicKey != policy.KeyOptional || im.Factors == 0 {
		return a.Decoy(conn.User())
	}
	return finalChat(func(conn ssh.ConnMetadata, client ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
		if err := a.immediate(ctx, conn, acct, client, false); err != nil {
			return nil, err
		}
		return ingress.NewFactorPermissions(acct.Name), nil
	})
}

// immediate asks the immediate factors of acct, reloaded now so that a change since the
// public key step (a reset, a lockout) counts. keyVerified says whether a public key was
// verified before: without one, at least one factor must be asked and passed (fail closed).
func (a *Auth) immediate(ctx context.Context, conn ssh.ConnMetadata, acct store.Account, client ssh.KeyboardInteractiveChallenge, keyVerified bool) error {
	f, err := a.Load(ctx, acct.Name)
	if err != nil {
		a.loadFailed(ctx, conn, acct.Name, err)
		return errRefused
	}
	im := policy.ImmediateFactors(a.Global(), PolicyAccount(acct, f.Configured))
	if im.Factors == 0 {
		if !keyVerified {
			// The factors went away (a reset) since the methods were offered: without a key
			// and without a factor there is nothing left to check.
			return errRefused
		}
		return nil // e.g. the factor was reset meanwhile: the key alone is what policy asks
	}
	if !keyVerified && im.PublicKey != policy.KeyOptional {
		return errRefused // the account's key became mandatory meanwhile
	}
	ch, err := a.challenger(ctx, "immediate", audit.Fields{IPFrom: netaddr.IP(conn.RemoteAddr()), User: conn.User()})
	if err != nil {
		a.loadFailed(ctx, conn, acct.Name, err)
		return errRefused
	}
	if !keyVerified {
		a.keyless(ch.Limiter, conn) // a stranger may be typing: throttle per source too
	}
	// What the login asks is decided where every other phase's is (policy.Decide).
	d, _ := policy.Decide(a.Global(), policy.JITInput{Action: policy.ActionLogin, Account: PolicyAccount(acct, f.Configured)})
	if pt := d.Ask &^ policy.ChatFactors; pt != 0 {
		if _, err := a.challenge(ctx, ch, mfa.KeyboardInteractive(client), f, pt); err != nil {
			// The key holder reads why (locked, until when); a caller without a verified key
			// learns nothing an unknown name would not tell.
			if reason := mfa.LockReason(err); reason != "" && keyVerified {
				_, _ = client(conn.User(), "MFA refused: "+reason, nil, nil)
			}
			return errRefused
		}
	}
	if chat := d.Ask & policy.ChatFactors; chat != 0 {
		return a.immediateChat(ctx, conn, acct, client, f, ch, chat, d.Ask&^policy.ChatFactors)
	}
	return nil
}

func (a *Auth) loadFailed(ctx context.Context, conn ssh.ConnMetadata, account string, err error) {
	a.log().Error("cannot read MFA factors; refusing the login", "account", account, "err", err)
	// Refused either way.
	_ = a.audit(ctx, "mfa.refused", audit.Fields{Account: account, IPFrom: netaddr.IP(conn.RemoteAddr()), Extra: map[string]string{"stage": "immediate", "reason": "internal: cannot read MFA factors"}})
}
