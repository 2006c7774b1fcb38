package osh

import "testing"

// TestPlanEnrolment: every refusal code × terminal or not. Only the three setup codes lead
// anywhere; without a pty they never walk (fail closed), and always hint at `ssh -t`.
func TestPlanEnrolment(t *testing.T) {
	codes := map[string]string{
		"KO_MFA_PASSWORD_SETUP_REQUIRED": SetupPasswordCommand,
		"KO_MFA_TOTP_SETUP_REQUIRED":     SetupTOTPCommand,
		"KO_MFA_ANY_SETUP_REQUIRED":      SetupTOTPCommand,
		"KO_MFA_FAILED":                  "",
		"KO_ACCESS_DENIED":               "",
		"KO_ACCOUNT_FROZEN":              "",
		"":                               "",
		"ko_mfa_totp_setup_required":     "",
	}
	for code, want := range codes {
		for _, pty := range []bool{false, true} {
			cmd, walk, hint := PlanEnrolment(code, pty)
			switch {
			case want == "":
				if cmd != "" || walk || hint {
					t.Errorf("%q pty=%v: %q walk=%v hint=%v, want nothing", code, pty, cmd, walk, hint)
				}
			case pty:
				if cmd != want || !walk || hint {
					t.Errorf("%q on a pty: %q walk=%v hint=%v, want %s", code, cmd, walk, hint, want)
				}
			default:
				if cmd != "" || walk || !hint {
					t.Errorf("%q without a pty: %q walk=%v hint=%v, want the hint only", code, cmd, walk, hint)
				}
			}
		}
	}
}

// TestChooseFactor: the answers to the choice of factor; anything else chooses nothing.
func TestChooseFactor(t *testing.T) {
	for ans, want := range map[string]string{
		"": SetupTOTPCommand, "t": SetupTOTPCommand, " T ": SetupTOTPCommand, "totp": SetupTOTPCommand,
		"p": SetupPasswordCommand, "Password": SetupPasswordCommand,
		"x": "", "tp": "", "yes": "", "\x03": "",
	} {
		if got := ChooseFactor(ans); got != want {
			t.Errorf("ChooseFactor(%q) = %q, want %q", ans, got, want)
		}
	}
}
