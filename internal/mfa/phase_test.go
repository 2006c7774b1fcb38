package mfa

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/mfa/limit"
	"gatehouse/internal/mfa/policy"
	"gatehouse/internal/mfa/totp"
)

var jitNow = time.Date(2023, 8, 3, 12, 0, 0, 0, time.UTC)

func TestRunJIT(t *testing.T) {
	pw := policy.Account{Name: "johndoe", Configured: policy.Password}
	helpPassword := policy.Command{Name: "help", SetupNotRequired: true, MFARequired: policy.RequirePassword}
	tests := []struct {
		name     string
		in       policy.JITInput
		answers  []string
		prompts  int
		exit     int
		out      []string // lines expected in order
		notInOut string
	}{
		{"nothing required prints nothing", policy.JITInput{Action: policy.ActionPlugin, Account: pw, Command: policy.Command{Name: "info"}},
			nil, 0, 0, nil, "MFA"},
		{"scenario 10: right password", policy.JITInput{Action: policy.ActionPlugin, Account: pw, Command: helpPassword},
			[]string{secretPassword}, 1, 0,
			[]string{"As this is required to run this plugin, entering MFA phase for johndoe.", "pamtester: successfully authenticated"}, ""},
		{"scenario 10: three wrong passwords", policy.JITInput{Action: policy.ActionPlugin, Account: pw, Command: helpPassword},
			[]string{"a", "b", "c"}, 3, 125,
			[]string{"entering MFA phase for johndoe.", "pamtester: Authentication failure"}, "successfully"},
		{"scenario 11: proactive", policy.JITInput{Action: policy.ActionPlugin, Account: pw, Command: helpPassword, Proven: []policy.Proof{{Factor: policy.Password, At: jitNow}}, Now: jitNow, Validity: time.Minute},
			nil, 0, 0, []string{"entering MFA phase", "... you already validated MFA proactively."}, "pamtester"},
		{"scenario 12: batch", policy.JITInput{Action: policy.ActionPlugin, Account: pw, Command: helpPassword, Batch: true},
			nil, 0, 125, []string{"entering MFA phase"}, "pamtester"},
		{"scenario 13: group host", policy.JITInput{Action: policy.ActionHost, Account: pw, Groups: []policy.Requirement{policy.RequireAny}},
			[]string{secretPassword}, 1, 0, []string{"As this is required for this host, entering MFA phase for johndoe.", "pamtester: successfully authenticated"}, ""},
		{"scenario 14: robot bypass", policy.JITInput{Action: policy.ActionHost, Account: policy.Account{Name: "robot", PasswordRequired: policy.FlagBypass}, Groups: []policy.Requirement{policy.RequireAny}},
			nil, 0, 0, []string{"entering MFA phase for robot.", "... skipping as your account is exempt from MFA."}, "pamtester"},
		{"scenario 14: no factor", policy.JITInput{Action: policy.ActionHost, Account: policy.Account{Name: "a3"}, Groups: []policy.Requirement{policy.RequireAny}},
			nil, 0, 124, []string{"entering MFA phase for a3."}, "pamtester"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.cred.Account = tt.in.Account.Name
			var out bytes.Buffer
			s := &script{answers: tt.answers}
			_, ref := r.c.RunJIT(context.Background(), &out, s.prompt, policy.Global{}, tt.in, r.cred)
			exit := 0
			if ref != nil {
				exit = ref.Exit
			}
			if exit != tt.exit || len(s.calls) != tt.prompts {
				t.Fatalf("exit %d after %d prompts (refusal %v), want %d after %d", exit, len(s.calls), ref, tt.exit, tt.prompts)
			}
			got := out.String()
			rest := got
			for _, want := range tt.out {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Fatalf("output %q lacks %q (in order)", got, want)
				}
				rest = rest[i+len(want):]
			}
			if tt.notInOut != "" && strings.Contains(got, tt.notInOut) {
				t.Fatalf("output %q contains %q", got, tt.notInOut)
			}
			if tt.out == nil && got != "" {
				t.Fatalf("printed %q", got)
			}
		})
	}
}

func TestRunProactive(t *testing.T) {
	r := newRig(t)
	var out bytes.Buffer
	acct := policy.Account{Name: "johndoe", Configured: policy.Password | policy.TOTP}
	s := &script{answers: []string{secretPassword, r.code(t)}}
	res, ref := r.c.RunProactive(context.Background(), &out, s.prompt, acct, r.cred, false)
	if ref != nil || res.Passed != policy.Password|policy.TOTP {
		t.Fatalf("%+v %v", res, ref)
	}
	if !strings.HasPrefix(out.String(), "As proactive MFA has been requested, entering MFA phase for johndoe.\n") ||
		!strings.HasSuffix(out.String(), "pamtester: successfully authenticated\n") {
		t.Fatalf("output %q", out.String())
	}
	out.Reset()
	_, ref = r.c.RunProactive(context.Background(), &out, (&script{}).prompt, policy.Account{Name: "nobody"}, r.cred, true)
	if ref == nil || ref.Exit != policy.ExitMFAAnySetupRequired || !strings.HasPrefix(out.String(), policy.InteractiveEnteringLine) {
		t.Fatalf("no factor: %v, %q", ref, out.String())
	}
}

func TestImportedLimits(t *testing.T) {
	if ImportedLimits(nil, limit.Default) != nil {
		t.Fatal("no RATE_LIMIT must keep the defaults")
	}
	got := ImportedLimits(&totp.GARateLimit{Attempts: 5, Seconds: 60}, limit.Default)
	if want := (limit.Limits{Attempts: 5, Window: time.Minute, LockAfter: limit.Default.LockAfter, FailInterval: limit.Default.FailInterval, UnlockTime: limit.Default.UnlockTime}); *got != want {
		t.Fatalf("%+v", got)
	}
}
