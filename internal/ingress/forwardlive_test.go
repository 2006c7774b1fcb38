package ingress

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"gatehouse/internal/access"
	"gatehouse/internal/accessdb"
)

// TestForwardVerdictTable: the one decision of a forward, new or live (forwardVerdict), over
// every combination of its inputs: the store answered or not, the account found (same
// identity) or not, the connection's key still the account's or removed, the account active,
// frozen or past its TTL, the grants (none, SSH only, SSH + both forward grants, the same
// expired), and the three directions. A forward is granted only when all hold; the first
// refusal of the store's facts is the one said.
func TestForwardVerdictTable(t *testing.T) {
	now := time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("10.0.0.5")
	const granted = 5432
	pk := []access.Key{{ID: "p1"}}
	ssh := access.Entry{Host: "10.0.0.5", User: "root", Port: 22}
	local := access.Entry{Host: "10.0.0.5", User: "!forward", Port: granted}
	remote := access.Entry{Host: "10.0.0.5", User: "!remote-forward", Port: granted}
	expired := func(es ...access.Entry) []access.Entry {
		var out []access.Entry
		for _, e := range es {
			e.Expiry = now.Add(-time.Second)
			out = append(out, e)
		}
		return out
	}
	accounts := []struct {
		name string
		acct access.Account
		ok   bool
	}{
		{"active", access.Account{Name: "alice", EgressKeys: pk}, true},
		{"frozen", access.Account{Name: "alice", EgressKeys: pk, Frozen: true}, false},
		{"ttl passed", access.Account{Name: "alice", EgressKeys: pk, Expiry: now.Add(-time.Second)}, false},
	}
	grants := []struct {
		name     string
		personal []access.Entry
		ok       bool
	}{
		{"none", nil, false},
		{"ssh only", []access.Entry{ssh}, false},
		{"ssh + forward + remote-forward", []access.Entry{ssh, local, remote}, true},
		{"the same, expired (revoked by time)", append([]access.Entry{ssh}, expired(local, remote)...), false},
	}
	target := access.Target{User: "root", Host: "10.0.0.5", IP: ip, Port: 22}
	dest := access.Target{Host: "10.0.0.5", IP: ip, Port: granted}
	requests := []access.ForwardRequest{
		{Direction: access.ForwardLocal, Target: dest},
		{Direction: access.ForwardThrough, Target: target, Dest: dest},
		{Direction: access.ForwardRemote, Target: target, BindPort: granted},
	}
	n := 0
	for _, read := range []bool{true, false} {
		for _, found := range []bool{true, false} {
			for _, keyOK := range []bool{true, false} {
				for _, a := range accounts {
					for _, g := range grants {
						for _, r := range requests {
							name := fmt.Sprintf("read=%v/found=%v/key=%v/%s/%s/%s", read, found, keyOK, a.name, g.name, r.Direction)
							f := forwardFacts{Read: read, Found: found, KeyOK: keyOK,
								Inputs: accessdb.Inputs{Account: a.acct, Personal: g.personal}}
							d, err := forwardVerdict(now, f, r)
							want := read && found && keyOK && a.ok && g.ok
							if (err == nil) != want {
								t.Errorf("%s: err %v, want granted=%v", name, err, want)
								continue
							}
							var first error
							switch {
							case !read:
								first = errAccessesUnread
							case !found:
								first = errForwardNoAccount
							case !keyOK:
								first = errForwardKeyGone
							}
							if first != nil && !errors.Is(err, first) {
								t.Errorf("%s: refused with %v, want %v", name, err, first)
							}
							if want && len(d.Keys()) == 0 && r.Direction != access.ForwardLocal {
								t.Errorf("%s: granted without the keys to log in to the target", name)
							}
							n++
						}
					}
				}
			}
		}
	}
	if n != 2*2*2*len(accounts)*len(grants)*len(requests) {
		t.Fatalf("%d cases", n)
	}
}
