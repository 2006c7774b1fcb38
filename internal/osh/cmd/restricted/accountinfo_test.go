package restricted

import (
	"strings"
	"testing"
)

// TestAccountInfoLines: what accountInfo's JSON says, its human lines say too.
func TestAccountInfoLines(t *testing.T) {
	mfa := map[string]any{"mfa_password_required": "no", "mfa_totp_required": "yes", "pam_auth_bypass": "no",
		"pubkey_auth_optional": "yes", "personal_egress_mfa_required": "totp"}
	with := func(extra map[string]any) map[string]any {
		v := map[string]any{"max_inactive_days": -1}
		for k, x := range extra {
			v[k] = x
		}
		return v
	}
	for _, tc := range []struct {
		name string
		v    map[string]any
		want []string
		not  []string
	}{
		{"plain", with(map[string]any{"groups": map[string]any{}}), []string{"Groups: none.", "Last activity: never", "the bastion's setting"}, []string{"Roles:", "MFA required"}},
		{"admin", with(map[string]any{"is_admin": 1, "is_superowner": 1}), []string{"Roles: admin, super-owner."}, []string{"auditor"}},
		{"mfa", with(mfa), []string{"MFA required: password no, TOTP yes; personal accesses ask: totp.", "(pam-auth-bypass): no; key optional (pubkey-auth-optional): yes."}, nil},
		{"bypass", with(map[string]any{"mfa_totp_required": "bypass", "pam_auth_bypass": "yes"}), []string{"TOTP bypass", "(pam-auth-bypass): yes"}, nil},
		{"groups", with(map[string]any{"groups": map[string]any{"web": []string{"member", "owner"}, "db": []string{"guest"}}}), []string{"Groups: db (guest), web (member, owner)."}, nil},
		{"activity", with(map[string]any{"last_activity": int64(0), "max_inactive_days": 0, "always_active": 1, "osh_only": 1, "comment": "robot"}),
			[]string{"Last activity: 1970-01-01T00:00:00Z; expires after inactivity: never (always active).", "May only run --osh", "Comment: robot"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(accountInfoLines(tc.v), "\n")
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(got, w) {
					t.Errorf("unexpected %q in:\n%s", w, got)
				}
			}
		})
	}
}
