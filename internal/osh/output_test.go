package osh

import (
	"encoding/json"
	"gatehouse/internal/config"
	"strings"
	"testing"
)

func TestEncodeJSON(t *testing.T) {
	r := Result{Command: "info", Code: "OK", Message: "OK", Value: map[string]any{"name": "é😀", "s": "JSON_OUTPUT=x\nJSON_END"}}
	g, _ := EncodeJSON(r, JSONGreppable)
	s := string(g)
	if !strings.HasPrefix(s, "\nJSON_OUTPUT={") || strings.Count(s, "\n") != 2 {
		t.Fatalf("greppable framing: %q", s)
	}
	if strings.ContainsAny(s, "é😀") || !strings.Contains(s, `\u00e9\ud83d\ude00`) {
		t.Fatalf("non-ASCII not escaped: %q", s)
	}
	if strings.Count(s, "JSON_OUTPUT=") != 1 || !strings.Contains(s, "JSON__OUTPUT=x") || !strings.Contains(s, "JSON__END") {
		t.Fatalf("markers inside payload not rewritten: %q", s)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "JSON_OUTPUT="))), &m); err != nil {
		t.Fatal(err)
	}
	if m["command"] != "info" || m["value"].(map[string]any)["name"] != "é😀" {
		t.Fatalf("round trip: %v", m)
	}
	c, _ := EncodeJSON(r, JSONCompact)
	if !strings.HasPrefix(string(c), "\nJSON_START\n{") || !strings.HasSuffix(string(c), "}\nJSON_END\n") {
		t.Fatalf("compact framing: %q", c)
	}
	p, _ := EncodeJSON(r, JSONPretty)
	if !strings.Contains(string(p), "\n   \"command\"") {
		t.Fatalf("pretty framing should indent by 3: %q", p)
	}
	none, _ := EncodeJSON(r, JSONNone)
	if none != nil {
		t.Fatal("JSONNone printed something")
	}
}

func TestRefusalJSONAndExit(t *testing.T) {
	r := Refuse("KO_RESTRICTED_COMMAND", RestrictedMessage)
	b, _ := r.MarshalJSON()
	want := `{"command":null,"error_code":"KO_RESTRICTED_COMMAND","error_message":"` + RestrictedMessage + `","value":null}`
	if string(b) != want {
		t.Fatalf("got %s\nwant %s", b, want)
	}
	for _, tc := range []struct {
		r    Result
		exit int
	}{
		{Refuse("KO_UNKNOWN_COMMAND", "x"), 104},
		{Refuse("KO_RESTRICTED_COMMAND", "x"), 106},
		{Refuse("KO_ACCESS_DENIED", "x"), 107},
		{Refuse("KO_MFA_ANY_SETUP_REQUIRED", "x"), 124},
		{Refuse("KO_ACCOUNT_FROZEN", "x"), 131},
		{Fail("accountCreate", "ERR_INVALID_ACCOUNT", "x"), 100},
		{Fail("help", "KO_MFA_FAILED", "x"), 125},
		{OK("info", nil), 0},
		{Result{Command: "groupList", Code: "OK_EMPTY"}, 0},
	} {
		if got := tc.r.ExitCode(); got != tc.exit {
			t.Errorf("%s exit = %d, want %d", tc.r.Code, got, tc.exit)
		}
	}
	// error_message falls back to the code.
	b, _ = Result{Code: "ERR_X"}.MarshalJSON()
	if !strings.Contains(string(b), `"error_message":"ERR_X"`) {
		t.Fatalf("%s", b)
	}
}

func TestNeedsMFA(t *testing.T) {
	cfg := config.Default()
	cfg.Plugin["help"] = config.PluginConfig{MFARequired: "password"}
	for _, tc := range []struct {
		cmd  Command
		want bool
	}{
		{Command{Name: "info"}, false},
		{Command{Name: "help"}, true},
		{Command{Name: "selfMFAResetTOTP", MFARequired: "any"}, true},
		{Command{Name: "selfMFASetupTOTP", MFARequired: "any-if-configured"}, false},
	} {
		if got := needsMFA(&tc.cmd, &cfg); got != tc.want {
			t.Errorf("needsMFA(%s) = %v, want %v", tc.cmd.Name, got, tc.want)
		}
	}
}
