package restricted

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/osh"
	"gatehouse/internal/store"
)

// infoCases walks the states accountInfo and accountList --audit show differently: callers,
// roles and grants, freeze (with and without a reason), TTL (none, future, past, now), activity,
// inactivity limits, always-active (own and listed), settings, groups, factors, comments that
// need escaping.
func infoCases(yield func(name string, in InfoInput) bool) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	settings := []map[string]string{nil, {},
		{"egress_strict_host_key_checking": "bypass", "egress_session_multiplexing": "yes", "mfa_password_required": "yes", "mfa_totp_required": "bypass", "pam_auth_bypass": "yes", "idle_ignore": "yes"},
		{"egress_strict_host_key_checking": "accept-new", "egress_session_multiplexing": "no", "mfa_password_required": "bypass", "mfa_totp_required": "yes", "pubkey_auth_optional": "yes", "personal_egress_mfa_required": "totp"},
		{"egress_strict_host_key_checking": "default", "personal_egress_mfa_required": "any", "mfa_totp_required": "no"},
		{"egress_session_multiplexing": "maybe", "egress_strict_host_key_checking": "yes"}}
	groups := []map[string][]string{nil, {}, {"web": {"member"}}, {"web": {"aclkeeper", "member", "owner"}, "db<1>": {"guest"}, "é": nil}}
	comments := []string{"", "robot", `a "quoted" <b>&amp; é ☃ 😀 JSON_START JSON_END JSON_OUTPUT` + "\n\r\t\u2028\x01"}
	k := 0
	for _, auditor := range []bool{false, true} {
		for _, grants := range [][]string{nil, {"admin"}, {"auditor", "accountInfo"}, {"superowner", "whoHasAccessTo", "accountList"}, {"admin", "auditor", "superowner"}} {
			for _, frozen := range []int{0, 1, 2} {
				for _, ttl := range []time.Duration{0, time.Hour, -time.Hour, -1} {
					for _, seen := range []time.Duration{0, 15 * time.Second, 40 * 24 * time.Hour} {
						for _, maxDays := range []int{-1, 0, 15} {
							for _, always := range []int{0, 1, 2, 3} {
								k++
								a := store.Account{Name: fmt.Sprintf("bob%d", k), Grants: grants, Frozen: frozen > 0,
									CreatedBy: "admin", CreatedAt: now.Add(-100 * 24 * time.Hour), MaxInactiveDays: maxDays,
									Comment: comments[k%len(comments)], Settings: settings[k%len(settings)], OshOnly: k%5 == 0,
									AlwaysActive: always&1 != 0}
								if frozen == 2 {
									a.FrozenReason = "holidays <x>"
								}
								switch {
								case ttl == -1:
									a.ExpiresAt = now
								case ttl != 0:
									a.ExpiresAt = now.Add(ttl)
								}
								if seen != 0 {
									a.LastSeenAt = now.Add(-seen)
								}
								in := InfoInput{Account: a, CallerAuditor: auditor, Now: now, GlobalMaxInactiveDays: 30,
									ListedAlwaysActive: always&2 != 0, Groups: groups[k%len(groups)],
									PasswordConfigured: k%3 == 1, TOTPConfigured: k%7 < 3}
								if k%4 != 0 {
									in.PasswordChanged = now.Add(-time.Duration(k) * time.Hour)
								}
								if k%11 == 0 {
									in.GlobalMaxInactiveDays = 0
								}
								name := fmt.Sprintf("auditor=%v grants=%v frozen=%d ttl=%v seen=%v max=%d always=%d k=%d", auditor, grants, frozen, ttl, seen, maxDays, always, k)
								if !yield(name, in) {
									return
								}
							}
						}
					}
				}
			}
		}
	}
}

// encodings are the ways an answer leaves gatehouse: each --json mode, and json.Marshal (the
// web console and the bench's dump).
func encodings(t *testing.T, v any) []string {
	return encodingsIn(t, v, osh.JSONCompact, osh.JSONPretty, osh.JSONGreppable)
}

// encodingsIn is encodings in the given --json modes only (per case: the pretty mode, which
// decodes and encodes again, is tried on the whole lists).
func encodingsIn(t *testing.T, v any, modes ...osh.JSONMode) []string {
	t.Helper()
	var out []string
	for _, mode := range modes {
		b, err := osh.EncodeJSON(osh.OK("accountInfo", v), mode)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, string(b))
}

// TestInfoStructsEncodeAsMaps: accountInfo's and accountList --audit's values, built as structs
// (issue 14), encode to the same bytes as the maps they were built as before (kept in
// infolegacy_test.go), in every --json mode, one account and many at once; accountInfo's human
// lines say the same.
func TestInfoStructsEncodeAsMaps(t *testing.T) {
	n := 0
	manyOld, manyNew := map[string]any{}, map[string]*Info{}
	auditOld, auditNew := map[string]any{}, map[string]*Info{}
	var manyList, auditList infoList
	ins := map[string]InfoInput{} // the auditor cases, by name, for the lazy lists
	var accounts []store.Account
	for name, in := range infoCases {
		n++
		oldV, newV := legacyInfoValue(in), InfoValue(in)
		if o, w := encodingsIn(t, oldV, osh.JSONCompact), encodingsIn(t, newV.Value(), osh.JSONCompact); !slices.Equal(o, w) {
			t.Fatalf("%s: accountInfo differs:\nold %s\nnew %s", name, o[0], w[0])
		}
		if o, w := legacyInfoLines(oldV), accountInfoLines(newV); !slices.Equal(o, w) {
			t.Fatalf("%s: lines differ:\nold %q\nnew %q", name, o, w)
		}
		if !in.CallerAuditor {
			continue
		}
		manyOld[in.Account.Name], manyNew[in.Account.Name] = oldV, newV
		manyList = append(manyList, newV)
		ins[in.Account.Name] = in
		accounts = append(accounts, in.Account)
		checkAppend(t, name, newV)
		// accountList --audit is for auditors; its rows read no groups.
		in.Groups = nil
		withPassword := in.Account.Name[len(in.Account.Name)-1]%2 == 0
		oldR, newR := bastionAuditRow(in, withPassword, auditCfg), AuditRow(in, withPassword, auditCfg)
		if o, w := encodingsIn(t, oldR, osh.JSONCompact), encodingsIn(t, newR, osh.JSONCompact); !slices.Equal(o, w) {
			t.Fatalf("%s: accountList --audit differs:\nold %s\nnew %s", name, o[0], w[0])
		}
		auditOld[in.Account.Name], auditNew[in.Account.Name] = oldR, newR
		auditList = append(auditList, newR)
		checkAppend(t, name, newR)
	}
	if o, w := encodings(t, manyOld), encodings(t, manyNew); !slices.Equal(o, w) {
		t.Errorf("accountInfo --all differs (%d and %d bytes)", len(o[0]), len(w[0]))
	}
	if o, w := encodings(t, auditOld), encodings(t, auditNew); !slices.Equal(o, w) {
		t.Errorf("accountList --audit differs (%d and %d bytes)", len(o[0]), len(w[0]))
	}
	// What the commands answer with: the lists that write their own JSON.
	if o, w := encodings(t, manyOld), encodings(t, manyList.sorted()); !slices.Equal(o, w) {
		t.Errorf("accountInfo --all's list differs (%d and %d bytes)", len(o[0]), len(w[0]))
	}
	if o, w := encodings(t, auditOld), encodings(t, auditList.sorted()); !slices.Equal(o, w) {
		t.Errorf("accountList --audit's list differs (%d and %d bytes)", len(o[0]), len(w[0]))
	}
	lazyInfo := infoLazy{accounts: byName(slices.Clone(accounts)), fill: func(a *store.Account, v *Info) { fillInfo(v, ins[a.Name]) }}
	if o, w := encodings(t, manyOld), encodings(t, lazyInfo); !slices.Equal(o, w) {
		t.Errorf("accountInfo --all's lazy list differs (%d and %d bytes)", len(o[0]), len(w[0]))
	}
	pw, la := newAuditPassword(auditCfg), new(LastActivity)
	lazyAudit := infoLazy{accounts: byName(slices.Clone(accounts)), fill: func(a *store.Account, v *Info) {
		in := ins[a.Name]
		p := pw
		if a.Name[len(a.Name)-1]%2 != 0 {
			p = nil
		}
		fillAuditRow(v, &in, p, la)
	}}
	if o, w := encodings(t, auditOld), encodings(t, lazyAudit); !slices.Equal(o, w) {
		t.Errorf("accountList --audit's lazy list differs (%d and %d bytes)", len(o[0]), len(w[0]))
	}
	if o, w := encodings(t, map[string]any{}), encodings(t, infoLazy{}); !slices.Equal(o, w) {
		t.Errorf("an empty lazy list: %s, want %s", w[0], o[0])
	}
	if o, w := encodings(t, map[string]any{}), encodings(t, infoList(nil)); !slices.Equal(o, w) {
		t.Errorf("an empty list: %s, want %s", w[0], o[0])
	}
	// The plain list's rows.
	plainOld := map[string]any{"a": map[string]any{"name": "a", "is_active": 1}, "b": map[string]any{"name": "b", "is_active": 0}}
	plainNew := map[string]listRow{"a": {Name: "a", IsActive: 1}, "b": {Name: "b", IsActive: 0}}
	if o, w := encodings(t, plainOld), encodings(t, plainNew); !slices.Equal(o, w) {
		t.Errorf("accountList differs:\nold %s\nnew %s", o[0], w[0])
	}
	plainOld, rows := map[string]any{}, listRows{}
	for i, name := range []string{"zed", "a\u2028<é>", "b\"q", "a", "\xff", "Z"} {
		plainOld[name] = map[string]any{"name": name, "is_active": i % 2}
		rows = append(rows, listRow{Name: name, IsActive: i % 2})
	}
	if o, w := encodings(t, plainOld), encodings(t, rows.sorted()); !slices.Equal(o, w) {
		t.Errorf("accountList's rows differ:\nold %s\nnew %s", o[0], w[0])
	}
	if o, w := encodings(t, map[string]any{}), encodings(t, listRows(nil)); !slices.Equal(o, w) {
		t.Errorf("no rows: %s, want %s", w[0], o[0])
	}
	if n < 1000 || !bytes.Contains([]byte(strings.Join(encodings(t, auditNew), "")), []byte(`\u2028`)) {
		t.Errorf("%d cases", n)
	}
}

// checkAppend: Info's own JSON writer equals encoding/json on the struct, also with the values
// the --with options add (as accountInfo --all stores them: encoded) and groups without flags.
func checkAppend(t *testing.T, name string, v *Info) {
	t.Helper()
	for _, extra := range []bool{false, true} {
		w := *v
		if extra {
			w.EgressKeys = json.RawMessage(`{"SHA256:x":{"fingerprint":"SHA256:x","comment":"<é>"}}`)
			w.Password = json.RawMessage(`{"password":"set","min_days":0}`)
			if w.Groups != nil {
				w.Groups = InfoGroups{"z": {Name: "z"}, "a\u2028": {Name: "a", Flags: []string{}}}
			}
		}
		want, err := rawJSON(&w)
		if err != nil {
			t.Fatal(err)
		}
		if got := w.appendJSON(nil); string(got) != string(want) {
			t.Fatalf("%s (extra %v):\nappendJSON %s\nencoding   %s", name, extra, got, want)
		}
	}
}
