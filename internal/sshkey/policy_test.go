package sshkey

import (
	"net"
	"strings"
	"testing"
)

// The from= decision over every combination of a user list, a bastion list and the override.
func TestDecideFrom(t *testing.T) {
	for _, tc := range []struct {
		user     string
		cfg      []string
		override bool
		want     string
	}{
		{"", nil, false, ""},
		{"", nil, true, ""},
		{"", []string{"10.0.0.0/8"}, false, "10.0.0.0/8"},
		{"", []string{"10.0.0.0/8", "192.0.2.1"}, true, "10.0.0.0/8,192.0.2.1"},
		{"198.51.100.7", []string{"10.0.0.0/8"}, false, "10.0.0.0/8"}, // silently replaced, as The Bastion
		{"198.51.100.7", []string{"10.0.0.0/8"}, true, "198.51.100.7"},
		{"198.51.100.7", nil, true, "198.51.100.7"},
		{"198.51.100.7", nil, false, "198.51.100.7"}, // kept: never lift a restriction silently
	} {
		if got := DecideFrom(tc.user, tc.cfg, tc.override); got != tc.want {
			t.Errorf("DecideFrom(%q, %v, %v) = %q, want %q", tc.user, tc.cfg, tc.override, got, tc.want)
		}
	}
}

func TestCheckRSASize(t *testing.T) {
	for _, tc := range []struct {
		bits, min, max int
		ok             bool
	}{
		{2048, 0, 0, true}, {1024, 0, 0, false}, {1024, 1024, 0, false}, // never below 2048
		{2048, 3072, 0, false}, {3072, 3072, 0, true}, {4096, 2048, 4096, true}, {8192, 2048, 4096, false},
		{16384, 2048, 0, true},
	} {
		if err := CheckRSASize(tc.bits, tc.min, tc.max); (err == nil) != tc.ok {
			t.Errorf("CheckRSASize(%d, %d, %d) = %v, want ok=%v", tc.bits, tc.min, tc.max, err, tc.ok)
		}
	}
}

func TestPolicyApply(t *testing.T) {
	const ed = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBsQG4d6bvYM2AXfGdpoadn7hDf/1qv4nKWtCnBHNgl8 me@laptop"
	k, err := Parse(`from="198.51.100.7" ` + ed)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Policy{IngressKeysFrom: []string{"10.0.0.0/8", "192.0.2.1"}}.Apply(k)
	if err != nil {
		t.Fatal(err)
	}
	if got.From != "10.0.0.0/8,192.0.2.1" || got.Line != `from="10.0.0.0/8,192.0.2.1" `+ed {
		t.Fatalf("applied: %q / %q", got.From, got.Line)
	}
	// The rebuilt line parses back to the same key and restriction.
	back, err := Parse(got.Line)
	if err != nil || back.From != got.From || back.Fingerprint != k.Fingerprint {
		t.Fatalf("rebuilt line: %v %+v", err, back)
	}
	if !FromAllows(back.From, net.ParseIP("10.1.2.3")) || FromAllows(back.From, net.ParseIP("198.51.100.7")) {
		t.Fatal("the bastion's list is not the one enforced")
	}
	if _, err := (Policy{IngressKeysFrom: []string{"bad\"entry"}}).Apply(k); err == nil || !strings.Contains(err.Error(), "ingressKeysFrom") {
		t.Fatalf("a broken ingressKeysFrom was applied: %v", err)
	}
	if fl := FromList(""); fl == nil || len(fl) != 0 {
		t.Fatal("FromList of nothing must be an empty list")
	}
}
