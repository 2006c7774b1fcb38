package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseSettings(t *testing.T) {
	base := []string{"url=https://bastion:8443", "token_file=/etc/gatehouse/pam.token"}
	for _, c := range []struct {
		name string
		file string
		args []string
		ok   bool
	}{
		{"args only", "", base, true},
		{"file only", "# comment\nurl = https://b:1\ntoken_file=/t\n\ntimeout=3s\n", nil, true},
		{"args override the file", "url=https://old:1\ntoken_file=/t\n", []string{"url=https://new:2"}, true},
		{"no url", "", []string{"token_file=/t"}, false},
		{"plain http", "", []string{"url=http://b:1", "token_file=/t"}, false},
		{"no token", "", []string{"url=https://b:1"}, false},
		{"unknown option", "", append(base, "allow=yes"), false},
		{"bare word", "", append(base, "yes"), false},
		{"bad timeout", "", append(base, "timeout=forever"), false},
		{"zero timeout", "", append(base, "timeout=0s"), false},
		{"huge timeout", "", append(base, "timeout=1h"), false},
		{"approval wait", "", append(base, "approval_wait=5m"), true},
		{"approval wait too long", "", append(base, "approval_wait=11m"), false},
		{"approval wait garbage", "", append(base, "approval_wait=later"), false},
		{"no_ticket ask", "", append(base, "no_ticket=ask"), true},
		{"no_ticket allow", "", append(base, "no_ticket=allow"), false},
	} {
		s, err := parseSettings([]byte(c.file), c.args)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
		if c.name == "args override the file" && s.URL != "https://new:2" {
			t.Errorf("override: url %q", s.URL)
		}
	}
	s, _ := parseSettings(nil, base)
	if s.Timeout != 10*time.Second || s.NoTicket != "refuse" {
		t.Errorf("defaults: %+v", s)
	}
}

func TestParseResponse(t *testing.T) {
	for body, allow := range map[string]bool{
		`{"allow":true,"message":"ok"}`: true,
		`{"allow":false}`:               false,
		`{"allow":"yes"}`:               false,
		`{"allow":true}{"allow":true}`:  false,
		`{"allow":true,"x":1}`:          false,
		`{"allow":1}`:                   false,
		`null`:                          false,
		``:                              false,
		strings.Repeat(" ", 5000) + `{"allow":true}`: false,
	} {
		r, err := parseResponse([]byte(body))
		if got := err == nil && r.Allow; got != allow {
			t.Errorf("%.40q: allow %v, want %v", body, got, allow)
		}
	}
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte(`{"allow":true,"message":"ok"}`))
	f.Add([]byte(`{"allow":false}`))
	f.Add([]byte(`{"allow":false,"factor":"approval","pending":true,"challenge":"ab"}`))
	f.Add([]byte(`{"allow":true} x`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := parseResponse(data)
		if err != nil && r.Allow {
			t.Fatal("an error carried a yes")
		}
		if err == nil && r.Allow && !strings.Contains(string(data), "true") {
			t.Fatalf("a yes without true in %q", data)
		}
		if len(r.Message) > 512 {
			t.Fatal("message not bounded")
		}
	})
}

func FuzzParseSettings(f *testing.F) {
	f.Add("url=https://b:1\ntoken_file=/t\n", "timeout=3s")
	f.Add("# x\n", "no_ticket=ask")
	f.Fuzz(func(t *testing.T, file, arg string) {
		s, err := parseSettings([]byte(file), []string{arg})
		if err == nil && (!strings.HasPrefix(s.URL, "https://") || s.TokenFile == "" || s.Timeout <= 0) {
			t.Fatalf("accepted %+v", s)
		}
	})
}
