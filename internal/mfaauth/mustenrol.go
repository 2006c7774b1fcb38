package mfaauth

import (
	"context"
	"fmt"

	"gatehouse/internal/mfa/policy"
)

// MustEnrol lists the accounts (not frozen) that the policy in force sends through enrolment
// at their next login: the setup gate of a connection refuses them until they set up a factor
// (policy.SetupGate: accountMFAPolicy, or their own --mfa-*-required yes). Admins are listed
// apart as well, since a policy that shuts out the admins shuts out their repairs too.
func (a *Auth) MustEnrol(ctx context.Context) (accounts, admins []string, err error) {
	g := a.Global()
	if g.Policy == policy.PolicyDisabled {
		return nil, nil, nil
	}
	list, err := a.Store.ListAccounts(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("list accounts: %w", err)
	}
	for _, acc := range list {
		if acc.Frozen {
			continue
		}
		st, err := a.Store.GetMFA(ctx, acc.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("MFA settings of %s: %w", acc.Name, err)
		}
		var configured policy.Factors
		if st.PasswordHash != "" && !st.PasswordTemporary {
			configured |= policy.Password
		}
		if st.TOTPSet {
			configured |= policy.TOTP
		}
		if policy.SetupGate(g, PolicyAccount(acc, configured), policy.Command{}) == nil {
			continue
		}
		accounts = append(accounts, acc.Name)
		if acc.HasGrant("admin") {
			admins = append(admins, acc.Name)
		}
	}
	return accounts, admins, nil
}
