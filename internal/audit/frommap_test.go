package audit

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// oldAuditMap is the conversion FromMap replaces (reflection and a JSON round trip per key), kept
// here as the reference the adapter must agree with. One difference is fixed, not kept: a value
// that did not fit its field went to Extra but could also half-fill the field (a non-nil
// Allowed from "yes").
func oldAuditMap(m map[string]any) Fields {
	names := map[string]bool{}
	t := reflect.TypeOf(Fields{})
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "extra" {
			names[name] = true
		}
	}
	var f Fields
	extra := map[string]string{}
	for k, v := range m {
		if names[k] {
			if b, err := json.Marshal(map[string]any{k: v}); err == nil && json.Unmarshal(b, new(Fields)) == nil {
				_ = json.Unmarshal(b, &f)
				continue
			}
		}
		extra[k] = fmt.Sprint(v)
	}
	if len(extra) > 0 {
		f.Extra = extra
	}
	return f
}

func TestFromMapAgreesWithTheOldConversion(t *testing.T) {
	for i, m := range []map[string]any{
		{"account": "alice", "port_to": 22, "allowed": true, "exit_status": 42, "duration": 1.5,
			"bytes_out": int64(7), "fingerprint": "SHA256:x", "port_from": "not a number"},
		{"account": "a"},
		{},
		{"allowed": false, "exit_status": 0, "params": []string{"--x", "y"}, "stealth": true, "recording_size": int64(9)},
		{"try": 1, "temporary": false, "when": time.Unix(5, 0).UTC(), "label": "ab12", "scratch_codes_left": 3},
		{"duration": 2, "bytes_in": 3, "port_bastion": uint16(2222), "plugin": "accountCreate", "result": "OK"},
		{"comment": nil, "account": nil, "approver": nil},
		{"ip_from": "192.0.2.1", "user": "root", "host_to": "h", "ip_to": "192.0.2.2", "signal": "KILL", "factor": "totp"},
		{"uniqid": "s1", "cmdtype": "ssh", "recording_id": "r", "recording_sha256": "ab", "recording_truncated": false},
		{"exit_status": "1", "allowed": "yes", "params": "--x", "duration": "1s", "bytes_out": 1.5},
		{"factor": namedString("totp"), "port_to": uint16(22), "duration": float32(0.5), "bytes_out": 3.0},
	} {
		if got, want := FromMap(m), oldAuditMap(m); !reflect.DeepEqual(got, want) {
			t.Errorf("%d: %v\n got %+v\nwant %+v", i, m, got, want)
		}
	}
}

func FuzzFromMap(f *testing.F) {
	f.Add("account", "alice", int64(22), true)
	f.Add("port_to", "x", int64(-1), false)
	f.Add("exit_status", "", int64(1)<<40, true)
	f.Fuzz(func(t *testing.T, k, s string, n int64, b bool) {
		for _, v := range []any{s, n, int(n), b, float64(n), []string{s}} {
			m := map[string]any{k: v}
			// Compared as the log reads back (JSON: invalid UTF-8 is U+FFFD either way).
			if got, want := asJSON(FromMap(m)), asJSON(oldAuditMap(m)); !reflect.DeepEqual(got, want) {
				t.Fatalf("%q=%#v: got %v want %v", k, v, got, want)
			}
		}
	})
}

func asJSON(f Fields) map[string]any {
	b, _ := json.Marshal(f)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

type namedString string

func TestMapAndWith(t *testing.T) {
	f := Fields{Account: "a", PortTo: 22, Allowed: Bool(false), Extra: map[string]string{"k": "v"}}
	m := f.Map()
	if len(m) != 4 || m["account"] != "a" || m["port_to"] != 22 || m["allowed"] != false || m["k"] != "v" {
		t.Fatalf("Map: %v", m)
	}
	if got := FromMap(m); !reflect.DeepEqual(asJSON(got), asJSON(f)) {
		t.Fatalf("FromMap(Map(f)) = %+v, want %+v", got, f)
	}
	g := f.With(map[string]string{"x": "1"})
	if len(f.Extra) != 1 || g.Extra["x"] != "1" || g.Extra["k"] != "v" {
		t.Fatalf("With changed its source or lost a field: %v %v", f.Extra, g.Extra)
	}
	if (Fields{}).With(nil).Extra != nil {
		t.Fatal("With(nil) on no Extra made an empty map")
	}
}
