package config

import (
	"errors"
	"strings"
	"testing"
)

// TestKeysAreCaseSensitive: the TOML decoder would match maxstartups to maxStartups; a key is
// accepted only as spelled, at every level, while names the operator chooses (a channel, a
// plugin's command name) are map keys and keep their own spelling.
func TestKeysAreCaseSensitive(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		line       int
		reason     string
	}{
		{"top level", "bastionName = \"b\"\nmaxstartups = \"10:30:100\"\n", 2, `did you mean "maxStartups"`},
		{"upper", "BASTIONNAME = \"b\"\n", 1, `did you mean "bastionName"`},
		{"mfa", "mfaMode = \"jit\"\n", 1, `did you mean "MFAMode"`},
		{"table", "[PLUGIN.help]\nmfa_required = \"any\"\n", 1, `did you mean "plugin"`},
		{"in a table", "[plugin.help]\nMFA_Required = \"any\"\n", 2, `did you mean "mfa_required"`},
		{"dotted", "plugin.help.Disabled = true\n", 1, `did you mean "disabled"`},
		{"nested table", "[notify.CODE]\ndigits = 8\n", 1, `did you mean "code"`},
		{"nested key", "[notify.code]\nDigits = 8\n", 2, `did you mean "digits"`},
		{"inline table", "notify = { Delivery = \"any\" }\n", 1, `did you mean "delivery"`},
	} {
		t.Run(tc.name, func(t *testing.T) { expectRefusal(t, tc.data, tc.line, tc.reason) })
	}
	c, err := Parse("g.toml", []byte("maxStartups = \"10:30:100\"\n[plugin.selfListSessions]\nmfa_required = \"any\"\n[plugin.Help]\ndisabled = true\n"))
	if err != nil || c.MaxStartups != "10:30:100" || c.Plugin["selfListSessions"].MFARequired != "any" || !c.Plugin["Help"].Disabled {
		t.Fatalf("exact keys refused or lost: %v %+v", err, c)
	}
}

// TestCheckPlugins: a [plugin.NAME] must name a command, exactly; the refusal gives file:line.
func TestCheckPlugins(t *testing.T) {
	known := []string{"help", "info", "accountCreate", "selfListSessions"}
	for _, tc := range []struct {
		name, data string
		line       int
		reason     string
	}{
		{"none", "bastionName = \"b\"\n", 0, ""},
		{"known", "[plugin.accountCreate]\nmfa_required = \"totp\"\n[plugin.help]\ndisabled = true\n", 0, ""},
		{"typo", "bastionName = \"b\"\n\n[plugin.acountCreate]\nmfa_required = \"totp\"\n", 3, `no command is named "acountCreate"`},
		{"case", "[plugin.AccountCreate]\nmfa_required = \"totp\"\n", 1, `did you mean "accountCreate"`},
		{"quoted", "[plugin.\"accountcreate\"]\nmfa_required = \"totp\"\n", 1, `did you mean "accountCreate"`},
		{"dotted", "plugin.nosuch.disabled = true\n", 1, `no command is named "nosuch"`},
		{"second of two", "[plugin.help]\ndisabled = true\n[plugin.hlep]\ndisabled = true\n", 3, `"hlep"`},
		{"empty table", "[plugin.ghost]\n", 1, `"ghost"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("gatehouse.toml", []byte(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			err = c.CheckPlugins(known)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.Line != tc.line || !strings.Contains(ce.Error(), tc.reason) || !strings.HasPrefix(ce.Error(), "gatehouse.toml:") {
				t.Fatalf("got %v, want gatehouse.toml:%d and %q", err, tc.line, tc.reason)
			}
		})
	}
}

// TestDurationsBounded: seconds and days that would wrap a time.Duration are refused.
func TestDurationsBounded(t *testing.T) {
	for _, tc := range []struct {
		data   string
		line   int
		reason string
	}{
		{"idleLockTimeout = 9999999999999\n", 1, "out of range"},
		{"bastionName = \"b\"\ninteractiveModeTimeout = 9223372037\n", 2, "out of range"},
		{"MFAPasswordMaxDays = 200000\n", 1, "out of range"},
		{"accountMaxInactiveDays = 36501\n", 1, "out of range"},
	} {
		expectRefusal(t, tc.data, tc.line, tc.reason)
	}
	if _, err := Parse("g.toml", []byte("idleLockTimeout = 3153600000\naccountMaxInactiveDays = 36500\n")); err != nil {
		t.Fatalf("100 years refused: %v", err)
	}
}
