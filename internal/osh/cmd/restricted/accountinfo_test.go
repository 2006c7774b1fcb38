package restricted

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

// basicKeys are all an account granted accountInfo, not an auditor, sees of another (The
// Bastion's 325-accountinfo: "a1 should see basic info about a2"), the role flags when true.
var basicKeys = map[string]bool{"account": true, "always_active": true, "always_active_reason": true, "is_active": true,
	"allowed_commands": true, "groups": true, "is_admin": true, "is_superowner": true, "is_auditor": true}

// auditorKeys are The Bastion's keys an auditor always gets (freeze_info and
// always_active_reason only when they apply).
var auditorKeys = []string{"is_ttl_set", "is_ttl_expired", "ttl_timestamp", "is_frozen", "is_expired", "can_connect",
	"already_seen_before", "last_activity", "creation_information", "account_egress_ssh_config", "ingress_piv_enforced",
	"ingress_piv_policy", "ingress_piv_grace", "global_ingress_policy", "effective_ingress_piv_policy",
	"mfa_password_required", "mfa_password_bypass", "mfa_password_configured", "mfa_totp_required", "mfa_totp_bypass",
	"mfa_totp_configured", "pam_auth_bypass", "pubkey_auth_optional", "personal_egress_mfa_required", "idle_ignore",
	"max_inactive_days", "osh_only", "created_by"}

// TestInfoValueLeastPrivilege walks callers × targets × states: a caller that is not an auditor
// gets the basic keys only, whatever the target, and its human lines say no more; an auditor
// gets every key with The Bastion's values.
func TestInfoValueLeastPrivilege(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, auditor := range []bool{false, true} {
		for _, grants := range [][]string{nil, {"admin"}, {"auditor", "accountInfo"}, {"superowner"}} {
			for _, frozen := range []bool{false, true} {
				for _, ttl := range []time.Duration{0, time.Hour, -time.Hour} {
					for _, seen := range []time.Duration{0, 15 * time.Second, 40 * 24 * time.Hour} {
						for _, maxDays := range []int{-1, 0, 15} {
							a := store.Account{Name: "bob", Grants: grants, Frozen: frozen, FrozenReason: "holidays",
								CreatedBy: "admin", CreatedAt: now.Add(-100 * 24 * time.Hour), MaxInactiveDays: maxDays, Comment: "robot",
								Settings: map[string]string{"mfa_totp_required": "bypass", "pam_auth_bypass": "yes"}}
							if ttl != 0 {
								a.ExpiresAt = now.Add(ttl)
							}
							if seen != 0 {
								a.LastSeenAt = now.Add(-seen)
							}
							name := fmt.Sprintf("auditor=%v grants=%v frozen=%v ttl=%v seen=%v max=%d", auditor, grants, frozen, ttl, seen, maxDays)
							v := InfoValue(InfoInput{Account: a, CallerAuditor: auditor, Now: now, GlobalMaxInactiveDays: 30,
								Groups: map[string][]string{"web": {"member"}}})
							checkInfo(t, name, a, auditor, ttl, seen, maxDays, now, v)
						}
					}
				}
			}
		}
	}
}

// infoMap is the JSON object the caller receives, decoded, with whole numbers as int.
func infoMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	var ints func(x any) any
	ints = func(x any) any {
		switch x := x.(type) {
		case json.Number:
			i, err := x.Int64()
			if err != nil {
				t.Fatalf("%v: %v", x, err)
			}
			return int(i)
		case map[string]any:
			for k, y := range x {
				x[k] = ints(y)
			}
		case []any:
			for i, y := range x {
				x[i] = ints(y)
			}
		}
		return x
	}
	return ints(m).(map[string]any)
}

func checkInfo(t *testing.T, name string, a store.Account, auditor bool, ttl, seen time.Duration, maxDays int, now time.Time, info *Info) {
	t.Helper()
	lines := strings.Join(accountInfoLines(info), "\n")
	v := infoMap(t, info.Value())
	if !auditor {
		var extra []string
		for k := range v {
			if !basicKeys[k] {
				extra = append(extra, k)
			}
		}
		sort.Strings(extra)
		if len(extra) > 0 {
			t.Errorf("%s: a non-auditor sees %v", name, extra)
		}
		for _, secret := range []string{"holidays", "robot", "Created", "MFA", "Last seen", "TTL"} {
			if strings.Contains(lines, secret) {
				t.Errorf("%s: a non-auditor's human output says %q:\n%s", name, secret, lines)
			}
		}
	} else {
		for _, k := range auditorKeys {
			if _, ok := v[k]; !ok {
				t.Errorf("%s: an auditor lacks %s", name, k)
			}
		}
		want := map[string]any{"is_ttl_set": b01(ttl != 0), "is_ttl_expired": b01(ttl < 0), "is_frozen": b01(a.Frozen),
			"already_seen_before": b01(seen != 0), "mfa_totp_bypass": 1, "mfa_totp_required": 0, "pam_auth_bypass": 1}
		for k, w := range want {
			if v[k] != w {
				t.Errorf("%s: %s = %v, want %v", name, k, v[k], w)
			}
		}
		if maxDays < 0 && v["max_inactive_days"] != nil || maxDays >= 0 && v["max_inactive_days"] != maxDays {
			t.Errorf("%s: max_inactive_days = %v", name, v["max_inactive_days"])
		}
		if seen == 0 && v["last_activity"] != nil {
			t.Errorf("%s: last_activity = %v for an account never seen", name, v["last_activity"])
		}
		if seen == 15*time.Second && v["last_activity"].(map[string]any)["ago"] != "00:00:15" {
			t.Errorf("%s: last_activity = %v", name, v["last_activity"])
		}
		if ci := v["creation_information"].(map[string]any); ci["by"] != "admin" || v["created_by"] != "admin" {
			t.Errorf("%s: creation_information = %v", name, ci)
		}
		if a.Frozen && !strings.Contains(lines, "FROZEN (holidays)") {
			t.Errorf("%s: the auditor's lines lack the freeze:\n%s", name, lines)
		}
	}
	// Either way: the role flags only when true, the roles not among the commands, the shape.
	isAdmin := a.HasGrant("admin")
	if _, ok := v["is_admin"]; ok != isAdmin {
		t.Errorf("%s: is_admin present = %v", name, ok)
	}
	for _, c := range v["allowed_commands"].([]any) {
		if c == "admin" || c == "auditor" || c == "superowner" {
			t.Errorf("%s: role %s among allowed_commands", name, c)
		}
	}
	active := !a.Frozen && ttl >= 0
	if _, expired := osh.InactivityExpired(&a, now, 30); expired {
		active = false
	}
	if v["is_active"] != b01(active) {
		t.Errorf("%s: is_active = %v, want %v", name, v["is_active"], active)
	}
	if g := v["groups"].(map[string]any)["web"].(map[string]any); g["name"] != "web" || fmt.Sprint(g["flags"]) != "[member]" {
		t.Errorf("%s: groups = %v", name, v["groups"])
	}
	if _, err := json.Marshal(v); err != nil {
		t.Errorf("%s: %v", name, err)
	}
}

func b01(x bool) int {
	if x {
		return 1
	}
	return 0
}

// TestInfoValueBasicDocument: the exact value a non-auditor gets for a plain always-active
// account, as The Bastion's own test writes it.
func TestInfoValueBasicDocument(t *testing.T) {
	v := InfoValue(InfoInput{Account: store.Account{Name: "a2", AlwaysActive: true, MaxInactiveDays: -1}, Now: time.Now()})
	got, _ := json.Marshal(v.Value())
	want := `{"account":"a2","allowed_commands":[],"always_active":1,"always_active_reason":"account local configuration","groups":{},"is_active":1}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestEgressSSHConfig(t *testing.T) {
	for _, tc := range []struct {
		s    map[string]string
		want string
	}{
		{nil, `{"type":"default"}`},
		{map[string]string{"egress_strict_host_key_checking": "default"}, `{"type":"default"}`},
		{map[string]string{"egress_strict_host_key_checking": "accept-new"}, `{"items":{"stricthostkeychecking":"accept-new"},"type":"custom"}`},
		{map[string]string{"egress_strict_host_key_checking": "bypass"}, `{"items":{"stricthostkeychecking":"no","userknownhostsfile":"/dev/null"},"type":"custom"}`},
		{map[string]string{"egress_session_multiplexing": "no"}, `{"items":{"controlmaster":"no","controlpath":"none"},"type":"custom"}`},
	} {
		got, _ := json.Marshal(egressSSHConfig(tc.s))
		if string(got) != tc.want {
			t.Errorf("%v: %s, want %s", tc.s, got, tc.want)
		}
	}
}

// TestAccountListLinesAsFmt: accountList's lines, made without fmt (issue 14), are fmt's
// "%-28s %-8s" padding, short and long names alike.
func TestAccountListLinesAsFmt(t *testing.T) {
	for _, name := range []string{"", "a", "bob-1", strings.Repeat("x", 27), strings.Repeat("y", 28), strings.Repeat("z", 40), "é"} {
		for _, w := range []int{8, 28} {
			if got, want := string(appendPadded([]byte("|"), name, w)), "|"+fmt.Sprintf("%-*s", w, name); got != want {
				t.Fatalf("%q in %d: %q, want %q", name, w, got, want)
			}
		}
	}
}
