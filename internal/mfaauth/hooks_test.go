package mfaauth

import (
	"slices"
	"testing"

	"gatehouse/internal/config"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/session"
	"gatehouse/internal/store"
)

// A command's built-in requirement is never lowered by the operator's; both apply together.
func TestRequirementMerge(t *testing.T) {
	tests := []struct {
		builtin, operator string
		main              policy.Requirement
		extra             []policy.Requirement
	}{
		{"", "", "", nil},
		{"", "password", policy.RequirePassword, nil},
		{"", "none", "", nil},
		{"any", "", policy.RequireAny, nil},
		{"any", "none", policy.RequireAny, nil},
		{"any", "totp", policy.RequireAny, []policy.Requirement{policy.RequireTOTP}},
		{"any-if-configured", "password", policy.RequireAnyIfConfigured, []policy.Requirement{policy.RequirePassword}},
		{"password", "totp", policy.RequirePassword, []policy.Requirement{policy.RequireTOTP}},
	}
	for _, tt := range tests {
		cfg := config.Default()
		cfg.Plugin["x"] = config.PluginConfig{MFARequired: tt.operator}
		a := &Auth{Config: func() *config.Config { return &cfg }}
		main, extra := a.requirement(session.CommandInfo{Name: "x", MFARequired: tt.builtin})
		if main != tt.main || !slices.Equal(extra, tt.extra) {
			t.Errorf("builtin %q + operator %q: got %q %v, want %q %v", tt.builtin, tt.operator, main, extra, tt.main, tt.extra)
		}
	}
}

func TestPolicyAccount(t *testing.T) {
	pa := PolicyAccount(store.Account{Name: "a", Settings: map[string]string{
		SettingPasswordRequired: "bypass", SettingTOTPRequired: "sometimes", SettingPAMAuthBypass: "yes",
		SettingPubkeyAuthOptional: "no", SettingPersonalEgressMFA: "totp"}}, policy.Password)
	want := policy.Account{Name: "a", PasswordRequired: policy.FlagBypass, TOTPRequired: policy.FlagYes, // unknown value fails closed
		PAMAuthBypass: true, PersonalEgressMFA: policy.RequireTOTP, Configured: policy.Password}
	if pa != want {
		t.Fatalf("got %+v, want %+v", pa, want)
	}
	if pa := PolicyAccount(store.Account{Name: "b"}, 0); pa.PasswordRequired != policy.FlagNo || pa.TOTPRequired != policy.FlagNo {
		t.Fatalf("no settings: %+v", pa)
	}
	// With accountMFAPolicy disabled a "yes" only stands for a factor already configured.
	d := disabledPolicyAccount(policy.Account{PasswordRequired: policy.FlagYes, TOTPRequired: policy.FlagYes, Configured: policy.TOTP})
	if d.PasswordRequired != policy.FlagNo || d.TOTPRequired != policy.FlagYes {
		t.Fatalf("disabled: %+v", d)
	}
}
