package app

import "testing"

func TestParseSessionEvent(t *testing.T) {
	for _, tc := range []struct {
		payload string
		ok      bool
		op      string
	}{
		{`{"node":"b","op":"end","account_id":"abc","reason":"frozen","exit":131}`, true, "end"},
		{`{"node":"b","op":"lock","account":"alice"}`, true, "lock"},
		{`{"node":"b","op":"unlock","account":"alice"}`, true, "unlock"},
		{`{"node":"b","op":"lock","account":"alice","version":7}`, true, "lock"},
		{`{"node":"b","op":"lock","account":"alice","version":-1}`, false, ""}, // versions start at 1
		{`{"node":"b","op":"lock","account":"alice","version":"7"}`, false, ""},
		{`{"node":"a","op":"end","account_id":"abc"}`, false, ""}, // this node's own
		{`{"node":"","op":"end","account_id":"abc"}`, false, ""},  // no sender
		{`{"node":"b","op":"end","account_id":""}`, false, ""},    // no identity: ends nothing
		{`{"node":"b","op":"end","account":"alice"}`, false, ""},  // a name is not an identity
		{`{"node":"b","op":"lock"}`, false, ""},
		{`{"node":"b","op":"reboot","account":"alice"}`, false, ""},
		{`not json`, false, ""},
		{`{"node":"b","op":"lock","account":"` + string(make([]byte, 9000)) + `"}`, false, ""},
	} {
		ev, ok := parseSessionEvent(tc.payload, "a")
		if ok != tc.ok || (ok && ev.Op != tc.op) {
			t.Errorf("%.60s: ok=%v op=%q, want ok=%v op=%q", tc.payload, ok, ev.Op, tc.ok, tc.op)
		}
	}
}

func FuzzParseSessionEvent(f *testing.F) {
	for _, s := range []string{`{"node":"b","op":"end","account_id":"abc","exit":131}`, `{"node":"b","op":"lock","account":"x"}`, `{"node":"b","op":"unlock","account":"x","version":3}`, `{}`, `[`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		ev, ok := parseSessionEvent(payload, "a")
		if !ok {
			return
		}
		if ev.Node == "a" || ev.Node == "" {
			t.Fatalf("accepted an event of this node or of none: %+v", ev)
		}
		if ev.Op == "end" && ev.AccountID == "" || (ev.Op == "lock" || ev.Op == "unlock") && ev.Account == "" {
			t.Fatalf("accepted an event that names nobody: %+v", ev)
		}
		if ev.Version < 0 {
			t.Fatalf("accepted version %d", ev.Version)
		}
		if ev.Op != "end" && ev.Op != "lock" && ev.Op != "unlock" {
			t.Fatalf("accepted op %q", ev.Op)
		}
	})
}
