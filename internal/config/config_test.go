package config

import (
	"errors"
	"strings"
	"testing"
)

func TestParseGood(t *testing.T) {
	c, err := Parse("g.toml", []byte(`
bastionName = "bastion1"
accountMFAPolicy = "totp-required"
interactiveModeProactiveMFAexpiration = 60
egressKeysFrom = ["192.0.2.0/24"]
[plugin.help]
mfa_required = "password"
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.BastionName != "bastion1" || c.AccountMFAPolicy != "totp-required" || c.Plugin["help"].MFARequired != "password" ||
		c.InteractiveModeProactiveMFAexpiration != 60 || c.MFAPasswordMaxDays != 90 {
		t.Fatalf("got %+v", c)
	}
}

func TestParseRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, data string
		line       int
		reason     string
	}{
		{"unknown key", "bastionName = \"b\"\naccountMFAPolicyy = \"enabled\"\n", 2, "unknown option"},
		{"bad enum", "\n\naccountMFAPolicy = \"sometimes\"\n", 3, "must be one of"},
		{"bad type", "interactiveModeTimeout = \"soon\"\n", 1, "interactiveModeTimeout"},
		{"syntax", "listen = \n", 1, ""},
		{"negative", "idleLockTimeout = -5\n", 1, "must be 0 or more"},
		{"kill before lock", "idleLockTimeout = 60\nidleKillTimeout = 30\n", 2, "greater than"},
		{"maxstartups", "maxStartups = \"x\"\n", 1, "start:rate:full"},
		{"plugin mfa", "[plugin.info]\nmfa_required = \"maybe\"\n", 2, "mfa_required"},
		{"unknown plugin key", "[plugin.info]\nmfa = \"any\"\n", 2, "unknown option"},
	} {
		t.Run(tc.name, func(t *testing.T) { expectRefusal(t, tc.data, tc.line, tc.reason) })
	}
}

// expectRefusal parses data and checks the refusal names gatehouse.toml, line and reason.
func expectRefusal(t *testing.T, data string, line int, reason string) {
	t.Helper()
	_, err := Parse("gatehouse.toml", []byte(data))
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if ce.Line != line || !strings.Contains(ce.Error(), reason) || !strings.HasPrefix(ce.Error(), "gatehouse.toml:") {
		t.Fatalf("got %q (line %d), want line %d and %q", ce.Error(), ce.Line, line, reason)
	}
}
