package policy

import (
	"strings"
	"testing"
	"time"
)

var (
	enabled = Global{Policy: PolicyEnabled}
	jitMode = Global{Policy: PolicyEnabled, Mode: ModeJIT}

	help      = Command{Name: "help", SetupNotRequired: true}
	info      = Command{Name: "info", SetupNotRequired: true}
	setupPass = Command{Name: "selfMFASetupPassword", SetupNotRequired: true}
	setupTOTP = Command{Name: "selfMFASetupTOTP", SetupNotRequired: true, MFARequired: RequireAnyIfConfigured}
	groupList = Command{Name: "groupList"}
	adminSudo = Command{Name: "adminSudo", MFARequired: RequireAny}
	resetTOTP = Command{Name: "selfMFAResetTOTP", MFARequired: RequireAny}
	host      = Command{}
)

func TestImmediateFactors(t *testing.T) {
	tests := []struct {
		name string
		g    Global
		a    Account
		want Immediate
	}{
		{"no factor: key only", enabled, Account{}, Immediate{KeyRequired, 0}},
		{"scenario 4: password configured", enabled, Account{Configured: Password}, Immediate{KeyRequired, Password}},
		{"scenario 5: totp required but only password configured asks password", enabled,
			Account{Configured: Password, TOTPRequired: FlagYes}, Immediate{KeyRequired, Password}},
		{"scenario 7: both configured, three factors", enabled, Account{Configured: Password | TOTP}, Immediate{KeyRequired, Password | TOTP}},
		{"scenario 8: pam bypass, key only", enabled, Account{Configured: Password | TOTP, PAMAuthBypass: true}, Immediate{KeyRequired, 0}},
		{"scenario 9: pubkey optional without factors still needs the key", enabled, Account{PubkeyAuthOptional: true}, Immediate{KeyRequired, 0}},
		{"scenario 9: pubkey optional with password", enabled, Account{PubkeyAuthOptional: true, Configured: Password}, Immediate{KeyOptional, Password}},
		{"pubkey optional and pam bypass: bypass wins", enabled, Account{PubkeyAuthOptional: true, PAMAuthBypass: true, Configured: Password}, Immediate{KeyRequired, 0}},
		{"JIT mode: key only at ingress", jitMode, Account{Configured: Password | TOTP, PasswordRequired: FlagYes}, Immediate{KeyRequired, 0}},
		{"JIT mode keeps pubkey-optional", jitMode, Account{Configured: TOTP, PubkeyAuthOptional: true}, Immediate{KeyOptional, TOTP}},
		{"policy disabled keeps configured factors", Global{Policy: PolicyDisabled}, Account{Configured: TOTP}, Immediate{KeyRequired, TOTP}},
		{"bypass flags do not remove configured factors at ingress", enabled,
			Account{Configured: Password, PasswordRequired: FlagBypass}, Immediate{KeyRequired, Password}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ImmediateFactors(tt.g, tt.a); got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestSetupGate(t *testing.T) {
	const (
		ok   = 0
		pass = ExitMFAPasswordSetupRequired
		totp = ExitMFATOTPSetupRequired
		any  = ExitMFAAnySetupRequired
	)
	pol := func(p MFAPolicy) Global { return Global{Policy: p} }
	tests := []struct {
		name string
		g    Global
		a    Account
		c    Command
		want int
	}{
		{"enabled, nothing required", enabled, Account{}, groupList, ok},
		{"scenario 2: password required yes, none set", enabled, Account{PasswordRequired: FlagYes}, groupList, pass},
		{"scenario 2: info still works", enabled, Account{PasswordRequired: FlagYes}, info, ok},
		{"scenario 2: help still works", enabled, Account{PasswordRequired: FlagYes}, help, ok},
		{"scenario 3: setup command works", enabled, Account{PasswordRequired: FlagYes}, setupPass, ok},
		{"password set", enabled, Account{PasswordRequired: FlagYes, Configured: Password}, groupList, ok},
		{"scenario 5: totp required on top of password", enabled, Account{PasswordRequired: FlagYes, TOTPRequired: FlagYes, Configured: Password}, groupList, totp},
		{"both required, none set: password first", enabled, Account{PasswordRequired: FlagYes, TOTPRequired: FlagYes}, groupList, pass},
		{"host connection is gated too", enabled, Account{TOTPRequired: FlagYes}, host, totp},
		{"policy disabled ignores per-account yes", pol(PolicyDisabled), Account{PasswordRequired: FlagYes}, groupList, ok},
		{"password-required, none set", pol(PolicyPasswordRequired), Account{}, groupList, pass},
		{"password-required, password bypass", pol(PolicyPasswordRequired), Account{PasswordRequired: FlagBypass}, groupList, ok},
		{"password-required, pam bypass robot", pol(PolicyPasswordRequired), Account{PAMAuthBypass: true}, groupList, ok},
		{"password-required, pam bypass does not lift a per-account yes", pol(PolicyPasswordRequired), Account{PAMAuthBypass: true, PasswordRequired: FlagYes}, groupList, pass},
		{"password-required, only totp set", pol(PolicyPasswordRequired), Account{Configured: TOTP}, groupList, pass},
		{"totp-required gives 123 to every non-enrolled account", pol(PolicyTOTPRequired), Account{Configured: Password}, groupList, totp},
		{"totp-required, enrolled", pol(PolicyTOTPRequired), Account{Configured: TOTP}, groupList, ok},
		{"totp-required, totp bypass", pol(PolicyTOTPRequired), Account{TOTPRequired: FlagBypass}, groupList, ok},
		{"totp-required, setup command allowed", pol(PolicyTOTPRequired), Account{}, setupTOTP, ok},
		{"any-required, nothing set", pol(PolicyAnyRequired), Account{}, groupList, any},
		{"any-required, password set", pol(PolicyAnyRequired), Account{Configured: Password}, groupList, ok},
		{"any-required, totp set", pol(PolicyAnyRequired), Account{Configured: TOTP}, groupList, ok},
		{"any-required, a bypass flag", pol(PolicyAnyRequired), Account{TOTPRequired: FlagBypass}, groupList, ok},
		{"any-required, pam bypass", pol(PolicyAnyRequired), Account{PAMAuthBypass: true}, groupList, ok},
		{"any-required, help allowed", pol(PolicyAnyRequired), Account{}, help, ok},
		{"empty policy means enabled", Global{}, Account{}, groupList, ok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.a.Name = "johndoe"
			r := SetupGate(tt.g, tt.a, tt.c)
			got := 0
			if r != nil {
				got = r.Exit
			}
			if got != tt.want {
				t.Fatalf("got %v, want exit %d", r, tt.want)
			}
		})
	}
}

func TestSetupGateMessages(t *testing.T) {
	a := Account{Name: "johndoe"}
	r := SetupGate(Global{Policy: PolicyAnyRequired}, a, groupList)
	want := "Sorry johndoe, but you need to setup the Multi-Factor Authentication before using this bastion, please use either the `--osh selfMFASetupPassword' or the `--osh selfMFASetupTOTP' option, at your discretion, to do so"
	if r == nil || r.Message != want || r.Code != "KO_MFA_ANY_SETUP_REQUIRED" || r.Exit != 124 {
		t.Fatalf("any: %+v", r)
	}
	r = SetupGate(Global{Policy: PolicyPasswordRequired}, a, groupList)
	want = "Sorry johndoe, but you need to setup the Multi-Factor Authentication before using this bastion, please use the `--osh selfMFASetupPassword' option to do so"
	if r == nil || r.Message != want || r.Code != "KO_MFA_PASSWORD_SETUP_REQUIRED" {
		t.Fatalf("password: %+v", r)
	}
	r = SetupGate(Global{Policy: PolicyTOTPRequired}, a, groupList)
	if r == nil || !strings.HasSuffix(r.Message, "please use the `--osh selfMFASetupTOTP' option to do so") || r.Code != "KO_MFA_TOTP_SETUP_REQUIRED" {
		t.Fatalf("totp: %+v", r)
	}
}

func TestJIT(t *testing.T) {
	type want struct {
		need string
		ask  Factors
		skip Skip
		exit int // 0: no refusal
	}
	human := Account{Name: "guybrush", Configured: Password}
	both := Account{Name: "guybrush", Configured: Password | TOTP}
	robotNoFactor := Account{Name: "robot", PasswordRequired: FlagBypass}
	memberNoFactor := Account{Name: "a3"}
	tests := []struct {
		name string
		g    Global
		in   JITInput
		want want
	}{
		// Commands.
		{"command without mfa_required", enabled, JITInput{Action: ActionPlugin, Account: human, Command: groupList}, want{"none", 0, "", 0}},
		{"scenario 10: help with mfa_required password", enabled,
			JITInput{Action: ActionPlugin, Account: human, Command: Command{Name: "help", SetupNotRequired: true, MFARequired: RequirePassword}},
			want{"password", Password, "", 0}},
		{"command any: every configured factor is asked", enabled, JITInput{Action: ActionPlugin, Account: both, Command: adminSudo}, want{"any", Password | TOTP, "", 0}},
		{"command totp, totp not set", enabled,
			JITInput{Action: ActionPlugin, Account: human, Command: Command{Name: "x", MFARequired: RequireTOTP}}, want{"totp", 0, "", ExitMFATOTPSetupRequired}},
		{"command password, nothing set", enabled,
			JITInput{Action: ActionPlugin, Account: memberNoFactor, Command: Command{Name: "x", MFARequired: RequirePassword}}, want{"password", 0, "", ExitMFAPasswordSetupRequired}},
		{"self resets always need MFA", enabled, JITInput{Action: ActionPlugin, Account: human, Command: resetTOTP}, want{"any", Password, "", 0}},
		{"scenario 6: selfMFASetupTOTP asks the existing factor", enabled, JITInput{Action: ActionPlugin, Account: human, Command: setupTOTP}, want{"any", Password, "", 0}},
		{"scenario 6: selfMFASetupTOTP with no factor asks nothing", enabled, JITInput{Action: ActionPlugin, Account: memberNoFactor, Command: setupTOTP}, want{"none", 0, "", 0}},
		{"invalid command config", enabled,
			JITInput{Action: ActionPlugin, Account: human, Command: Command{Name: "x", MFARequired: "sometimes"}}, want{"none", 0, "", ExitMFAFailed}},
		{"scenario 11: proactive MFA skips", enabled, JITInput{Action: ActionPlugin, Account: human, Command: adminSudo, Proven: fresh(Password), Now: t0, Validity: validity}, want{"any", 0, SkipProactive, 0}},
		{"scenario 12: batch cannot prompt", enabled, JITInput{Action: ActionPlugin, Account: human, Command: adminSudo, Batch: true}, want{"any", 0, "", ExitMFAFailed}},
		{"batch with proactive MFA runs", enabled, JITInput{Action: ActionPlugin, Account: human, Command: adminSudo, Batch: true, Proven: fresh(Password), Now: t0, Validity: validity}, want{"any", 0, SkipProactive, 0}},

		// Groups.
		{"scenario 13: group any", enabled, JITInput{Action: ActionHost, Account: human, Groups: []Requirement{RequireAny}}, want{"any", Password, "", 0}},
		{"group none", enabled, JITInput{Action: ActionHost, Account: human, Groups: []Requirement{RequireNone, ""}}, want{"none", 0, "", 0}},
		{"one requiring group among several is enough", enabled,
			JITInput{Action: ActionHost, Account: human, Groups: []Requirement{RequireNone, RequirePassword, RequireNone}}, want{"password", Password, "", 0}},
		{"password group and totp group need both", enabled,
			JITInput{Action: ActionHost, Account: both, Groups: []Requirement{RequirePassword, RequireTOTP}}, want{"password+totp", Password | TOTP, "", 0}},
		{"password group and totp group, totp missing", enabled,
			JITInput{Action: ActionHost, Account: human, Groups: []Requirement{RequirePassword, RequireTOTP}}, want{"password+totp", 0, "", ExitMFATOTPSetupRequired}},
		{"unknown stored group value fails closed as any", enabled,
			JITInput{Action: ActionHost, Account: memberNoFactor, Groups: []Requirement{"ANY "}}, want{"any", 0, "", ExitMFAAnySetupRequired}},
		{"scenario 14: robot with bypass and no factor connects", enabled,
			JITInput{Action: ActionHost, Account: robotNoFactor, Groups: []Requirement{RequireAny}}, want{"any", 0, SkipBypass, 0}},
		{"scenario 14: bypass removed, no factor", enabled,
			JITInput{Action: ActionHost, Account: memberNoFactor, Groups: []Requirement{RequireAny}}, want{"any", 0, "", ExitMFAAnySetupRequired}},
		{"totp bypass, totp group, no totp", enabled,
			JITInput{Action: ActionHost, Account: Account{Name: "r", TOTPRequired: FlagBypass, Configured: Password}, Groups: []Requirement{RequireTOTP}}, want{"totp", 0, SkipBypass, 0}},
		{"password bypass does not skip a configured password", enabled,
			JITInput{Action: ActionHost, Account: Account{Name: "r", PasswordRequired: FlagBypass, Configured: Password}, Groups: []Requirement{RequirePassword}}, want{"password", Password, "", 0}},
		{"bypass of one of two required factors still asks the other", enabled,
			JITInput{Action: ActionHost, Account: Account{Name: "r", PasswordRequired: FlagBypass, Configured: TOTP}, Groups: []Requirement{RequirePassword, RequireTOTP}}, want{"password+totp", TOTP, "", 0}},

		// Personal accesses.
		{"scenario 14: personal egress password, none set", enabled,
			JITInput{Action: ActionHost, Account: Account{Name: "a0", PersonalEgressMFA: RequirePassword}, Personal: true}, want{"password", 0, "", ExitMFAPasswordSetupRequired}},
		{"personal egress password, set", enabled,
			JITInput{Action: ActionHost, Account: Account{Name: "a0", PersonalEgressMFA: RequirePassword, Configured: Password}, Personal: true}, want{"password", Password, "", 0}},
		{"personal flag unused by a group access", enabled,
			JITInput{Action: ActionHost, Account: Account{Name: "a0", PersonalEgressMFA: RequirePassword, Configured: Password}}, want{"none", 0, "", 0}},

		// Per-account, JIT mode.
		{"JIT mode: account password required asks on any action", jitMode,
			JITInput{Action: ActionPlugin, Account: Account{Name: "a", PasswordRequired: FlagYes, Configured: Password}, Command: groupList}, want{"password", Password, "", 0}},
		{"JIT mode: not for setup commands", jitMode,
			JITInput{Action: ActionPlugin, Account: Account{Name: "a", PasswordRequired: FlagYes}, Command: setupPass}, want{"none", 0, "", 0}},
		{"JIT mode: account totp required on a host", jitMode,
			JITInput{Action: ActionHost, Account: Account{Name: "a", TOTPRequired: FlagYes, Configured: TOTP | Password}}, want{"totp", Password | TOTP, "", 0}},
		{"immediate mode: account flags not asked again by JIT", enabled,
			JITInput{Action: ActionPlugin, Account: Account{Name: "a", PasswordRequired: FlagYes, Configured: Password}, Command: groupList}, want{"none", 0, "", 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, r := JIT(tt.g, tt.in)
			exit := 0
			if r != nil {
				exit = r.Exit
			}
			got := want{d.Need.String(), d.Ask, d.Skip, exit}
			if got != tt.want {
				t.Fatalf("got %+v (refusal %v), want %+v", got, r, tt.want)
			}
			if r != nil && (d.Ask != 0 || d.Skip != "") {
				t.Fatal("a refusal must not also ask or skip")
			}
		})
	}
}

func TestJITMessages(t *testing.T) {
	_, r := JIT(enabled, JITInput{Action: ActionHost, Account: Account{Name: "a3"}, Groups: []Requirement{RequireAny}})
	want := "Sorry a3, but you need to setup the Multi-Factor Authentication for this host,\nplease use either the `--osh selfMFASetupPassword' or the `--osh selfMFASetupTOTP' option, at your discretion, to do so"
	if r == nil || r.Message != want || r.Code != "KO_MFA_ANY_SETUP_REQUIRED" {
		t.Fatalf("%+v", r)
	}
	_, r = JIT(enabled, JITInput{Action: ActionPlugin, Account: Account{Name: "a4", Configured: Password}, Command: adminSudo, Batch: true})
	if r == nil || r.Code != "KO_MFA_FAILED" || !strings.Contains(r.Message, "please use --proactive-mfa") {
		t.Fatalf("%+v", r)
	}
	if got := EnteringLine(ActionPlugin, "johndoe"); got != "As this is required to run this plugin, entering MFA phase for johndoe." {
		t.Error(got)
	}
	if got := EnteringLine(ActionHost, "guybrush"); got != "As this is required for this host, entering MFA phase for guybrush." {
		t.Error(got)
	}
	if got := FactorBanner(Password); got != "Your account has Multi-Factor Authentication enabled, an additional authentication factor is required (password)." {
		t.Error(got)
	}
	if got := FactorBanner(TOTP); !strings.HasSuffix(got, "is required (OTP).") {
		t.Error(got)
	}
	if got := RequireAny.AccessTag(); got != " (MFA REQUIRED: ANY)" {
		t.Error(got)
	}
	if RequireNone.AccessTag() != "" || Requirement("").AccessTag() != "" {
		t.Error("none has a tag")
	}
}

func TestElevation(t *testing.T) {
	now := time.Date(2023, 8, 3, 12, 20, 8, 0, time.UTC)
	var e Elevation
	if e.Active(now) || e.PromptTag(now) != "" {
		t.Fatal("zero elevation active")
	}
	e = Elevate(now, 900*time.Second)
	if !e.Active(now.Add(899*time.Second)) || e.PromptTag(now) != "[MFA-OK]" {
		t.Fatal("not active inside its lifetime")
	}
	if e.Active(now.Add(900 * time.Second)) {
		t.Fatal("still active at expiry")
	}
	lines := e.ElevatedLines(now)
	if lines[1] != "This mode will expire in 00:15:00 (Thu 2023-08-03 12:35:08 UTC)" {
		t.Fatalf("%q", lines[1])
	}
	if len(lines) != 4 || !strings.Contains(lines[3], "approval") {
		t.Fatalf("the elevation does not say that chat factors are still asked: %q", lines)
	}
}

func TestParse(t *testing.T) {
	for _, s := range []string{"", "disabled", "enabled", "any-required", "totp-required", "password-required"} {
		if _, err := ParseMFAPolicy(s); err != nil {
			t.Error(err)
		}
	}
	if _, err := ParseMFAPolicy("required"); err == nil {
		t.Error("accepted an unknown policy")
	}
	if _, err := ParseRequirement("any-if-configured"); err == nil {
		t.Error("any-if-configured is for built-in command configs only")
	}
	if _, err := ParseFlag("maybe"); err == nil {
		t.Error("accepted an unknown flag")
	}
	if (Password|TOTP).String() != "password+totp" || Factors(0).String() != "none" {
		t.Error("Factors.String")
	}
}
