package policy

import (
	"strings"
	"testing"
)

func TestImmediateChatFactors(t *testing.T) {
	tests := []struct {
		name string
		g    Global
		a    Account
		want Immediate
	}{
		{"webhook yes, nothing configured: key then code", enabled, Account{WebhookRequired: FlagYes}, Immediate{KeyRequired, Webhook}},
		{"approval yes: key then approval", enabled, Account{ApprovalRequired: FlagYes}, Immediate{KeyRequired, Approval}},
		{"password configured and webhook yes: password then code", enabled,
			Account{Configured: Password, WebhookRequired: FlagYes}, Immediate{KeyRequired, Password | Webhook}},
		{"both chat factors", enabled, Account{WebhookRequired: FlagYes, ApprovalRequired: FlagYes}, Immediate{KeyRequired, Webhook | Approval}},
		{"bypass is not yes", enabled, Account{WebhookRequired: FlagBypass}, Immediate{KeyRequired, 0}},
		{"pam bypass: key only", enabled, Account{WebhookRequired: FlagYes, PAMAuthBypass: true}, Immediate{KeyRequired, 0}},
		{"JIT mode: key only at ingress", jitMode, Account{WebhookRequired: FlagYes}, Immediate{KeyRequired, 0}},
		{"a chat factor never replaces the key", enabled,
			Account{PubkeyAuthOptional: true, WebhookRequired: FlagYes}, Immediate{KeyRequired, Webhook}},
		{"pubkey optional with TOTP: TOTP and code may replace the key", enabled,
			Account{PubkeyAuthOptional: true, Configured: TOTP, WebhookRequired: FlagYes}, Immediate{KeyOptional, TOTP | Webhook}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ImmediateFactors(tt.g, tt.a); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestJITChatFactors(t *testing.T) {
	webhookCmd := Command{Name: "groupList", MFARequired: RequireWebhook}
	tests := []struct {
		name string
		g    Global
		in   JITInput
		ask  Factors
		skip Skip
		exit int
	}{
		{"group webhook, no factor configured: code only", enabled,
			JITInput{Action: ActionHost, Groups: []Requirement{RequireWebhook}}, Webhook, SkipNone, 0},
		{"group approval", enabled,
			JITInput{Action: ActionHost, Groups: []Requirement{RequireApproval}}, Approval, SkipNone, 0},
		{"group webhook does not ask the configured password", enabled,
			JITInput{Action: ActionHost, Account: Account{Configured: Password | TOTP}, Groups: []Requirement{RequireWebhook}}, Webhook, SkipNone, 0},
		{"groups password and webhook: both", enabled,
			JITInput{Action: ActionHost, Account: Account{Configured: Password}, Groups: []Requirement{RequirePassword, RequireWebhook}}, Password | Webhook, SkipNone, 0},
		{"groups any and approval: configured then approval", enabled,
			JITInput{Action: ActionHost, Account: Account{Configured: TOTP}, Groups: []Requirement{RequireAny, RequireApproval}}, TOTP | Approval, SkipNone, 0},
		{"any still refuses without password or TOTP, even with a chat group", enabled,
			JITInput{Action: ActionHost, Groups: []Requirement{RequireAny, RequireWebhook}}, 0, SkipNone, ExitMFAAnySetupRequired},
		{"command webhook", enabled,
			JITInput{Action: ActionPlugin, Command: webhookCmd}, Webhook, SkipNone, 0},
		{"personal access approval", enabled,
			JITInput{Action: ActionHost, Personal: true, Account: Account{PersonalEgressMFA: RequireApproval}}, Approval, SkipNone, 0},
		{"JIT mode: account's webhook yes for a command", jitMode,
			JITInput{Action: ActionPlugin, Account: Account{WebhookRequired: FlagYes}, Command: Command{Name: "groupList"}}, Webhook, SkipNone, 0},
		{"JIT mode: account's approval yes not for setup commands", jitMode,
			JITInput{Action: ActionPlugin, Account: Account{ApprovalRequired: FlagYes}, Command: setupPass}, 0, SkipNone, 0},
		{"immediate mode: account's yes is not asked again in JIT", enabled,
			JITInput{Action: ActionPlugin, Account: Account{WebhookRequired: FlagYes}, Command: Command{Name: "groupList"}}, 0, SkipNone, 0},
		{"bypass skips a group's webhook", enabled,
			JITInput{Action: ActionHost, Account: Account{WebhookRequired: FlagBypass}, Groups: []Requirement{RequireWebhook}}, 0, SkipBypass, 0},
		{"webhook bypass does not skip approval", enabled,
			JITInput{Action: ActionHost, Account: Account{WebhookRequired: FlagBypass}, Groups: []Requirement{RequireWebhook, RequireApproval}}, Approval, SkipNone, 0},
		// Issue 9: proactive MFA (password, TOTP) used to stand in for a chat factor.
		{"proactive password and TOTP do not stand in for a webhook code", enabled,
			JITInput{Action: ActionHost, Account: Account{Configured: Password | TOTP}, Groups: []Requirement{RequireWebhook},
				Proven: fresh(Password, TOTP), Now: t0, Validity: validity}, Webhook, SkipNone, 0},
		{"a webhook code proven within its validity counts for a webhook", enabled,
			JITInput{Action: ActionHost, Groups: []Requirement{RequireWebhook}, Proven: fresh(Webhook), Now: t0, Validity: validity}, 0, SkipProactive, 0},
		{"batch cannot wait for a code", enabled,
			JITInput{Action: ActionHost, Groups: []Requirement{RequireApproval}, Batch: true}, 0, SkipNone, ExitMFAFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Account.Name = "alice"
			d, r := JIT(tt.g, tt.in)
			if tt.exit != 0 {
				if r == nil || r.Exit != tt.exit {
					t.Fatalf("refusal %+v, want exit %d", r, tt.exit)
				}
				return
			}
			if r != nil {
				t.Fatalf("unexpected refusal %+v", r)
			}
			if d.Ask != tt.ask || d.Skip != tt.skip {
				t.Fatalf("ask %v skip %q, want ask %v skip %q", d.Ask, d.Skip, tt.ask, tt.skip)
			}
		})
	}
}

func TestOnUndelivered(t *testing.T) {
	tests := []struct {
		name   string
		fb     Fallback
		a      Account
		passed Factors
		ask    Factors
		refuse bool
	}{
		{"none refuses", FallbackNone, Account{Configured: Password | TOTP}, 0, 0, true},
		{"empty refuses", "", Account{Configured: Password}, 0, 0, true},
		{"password", FallbackPassword, Account{Configured: Password | TOTP}, 0, Password, false},
		{"password not configured refuses", FallbackPassword, Account{Configured: TOTP}, 0, 0, true},
		{"password already passed refuses (two factors must stay two)", FallbackPassword, Account{Configured: Password}, Password, 0, true},
		{"totp", FallbackTOTP, Account{Configured: Password | TOTP}, 0, TOTP, false},
		{"any: every configured factor", FallbackAny, Account{Configured: Password | TOTP}, 0, Password | TOTP, false},
		{"any: what was not passed yet", FallbackAny, Account{Configured: Password | TOTP}, Password, TOTP, false},
		{"any with nothing configured refuses", FallbackAny, Account{}, 0, 0, true},
		{"unknown value refuses", Fallback("sms"), Account{Configured: Password}, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ask, r := OnUndelivered(tt.fb, Webhook, tt.a, tt.passed)
			if (r != nil) != tt.refuse || ask != tt.ask {
				t.Fatalf("ask %v refusal %+v; want ask %v refuse %v", ask, r, tt.ask, tt.refuse)
			}
			if r != nil && (r.Exit != ExitMFAFailed || r.Code != "KO_MFA_FAILED" || !strings.Contains(r.Message, "could not deliver your login code")) {
				t.Fatalf("refusal %+v", r)
			}
		})
	}
}

func TestParseChat(t *testing.T) {
	for _, s := range []string{"webhook", "approval"} {
		if r, err := ParseRequirement(s); err != nil || string(r) != s {
			t.Errorf("ParseRequirement(%q) = %q, %v", s, r, err)
		}
	}
	for s, want := range map[string]Fallback{"": FallbackNone, "none": FallbackNone, "password": FallbackPassword, "totp": FallbackTOTP, "any": FallbackAny} {
		if f, err := ParseFallback(s); err != nil || f != want {
			t.Errorf("ParseFallback(%q) = %q, %v", s, f, err)
		}
	}
	if _, err := ParseFallback("webhook"); err == nil {
		t.Error("a chat factor cannot be its own fallback")
	}
	if got := (Password | Webhook | Approval).String(); got != "password+webhook+approval" {
		t.Errorf("String = %q", got)
	}
	if got := (Need{All: Webhook}).String(); got != "webhook" {
		t.Errorf("Need.String = %q", got)
	}
	if p := CodePrompt("K7QX2M"); p != "Code for session K7QX2M: " {
		t.Errorf("CodePrompt = %q", p)
	}
}
