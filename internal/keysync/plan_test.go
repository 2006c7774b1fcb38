package keysync

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/sshkey"
)

// testKey makes a deterministic ed25519 key line from a seed byte.
func testKey(t testing.TB, seed byte, comment string) sshkey.Key {
	t.Helper()
	var s [32]byte
	s[0] = seed
	pub, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(s[:]).Public())
	if err != nil {
		t.Fatal(err)
	}
	k, err := sshkey.Parse(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))) + " " + comment)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func stored(k sshkey.Key) Key { return Key{Fingerprint: k.Fingerprint, Line: k.Line} }

// summary renders a plan's changes as "kind:account[:detail]" for comparison.
func summary(p Plan, keys map[string]string) []string {
	var out []string
	for _, c := range p.Changes {
		s := string(c.Kind) + ":" + c.Account
		switch c.Kind {
		case AddKey, RemoveKey:
			s += ":" + keys[c.Key.Fingerprint]
		case AddToGroup:
			s += ":" + c.Group
		case CreateAccount:
			var names []string
			for _, k := range c.Keys {
				names = append(names, keys[k.Fingerprint])
			}
			s += ":" + strings.Join(names, "+")
		}
		out = append(out, s)
	}
	return out
}

// TestReconcile is the decision as a table over its inputs: what the source says (absent,
// keys, no valid key, groups), what the store holds (unmanaged, managed active, frozen by the
// sync or by hand) and the safety checks (unreachable, empty, share, force).
func TestReconcile(t *testing.T) {
	k1, k2, k3 := testKey(t, 1, "k1"), testKey(t, 2, "k2"), testKey(t, 3, "k3")
	k1from, err := sshkey.Parse(`from="10.0.0.0/8" ` + k1.Line)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{k1.Fingerprint: "k1", k2.Fingerprint: "k2", k3.Fingerprint: "k3"}
	entry := func(keys ...sshkey.Key) Entry { return Entry{Keys: keys, Object: "o", Version: "v"} }
	withGroups := func(e Entry, g ...string) Entry { e.Groups = g; return e }
	active := func(keys ...sshkey.Key) Current {
		c := Current{}
		for _, k := range keys {
			c.Keys = append(c.Keys, stored(k))
		}
		return c
	}
	// many managed accounts so that one freeze stays under the share.
	crowd := func(n int) (Snapshot, map[string]Current) {
		d, m := Snapshot{}, map[string]Current{}
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("user%02d", i)
			d[name], m[name] = entry(k3), active(k3)
		}
		return d, m
	}
	type tc struct {
		name    string
		in      Input
		verdict Verdict
		want    []string
		skipped []string // substrings, one per skipped entry expected
	}
	cases := []tc{}
	{
		d, m := crowd(0)
		d["alice"] = entry(k1, k2)
		cases = append(cases, tc{name: "new account created with its keys", in: Input{Desired: d, Managed: m},
			verdict: Apply, want: []string{"create_account:alice:k1+k2"}})
	}
	cases = append(cases,
		tc{name: "unreachable source changes nothing", in: Input{FetchErr: errors.New("dial tcp: refused"),
			Desired: Snapshot{"alice": entry(k1)}, Managed: map[string]Current{"bob": active(k1)}},
			verdict: RefusedFetch},
		tc{name: "empty source refused even with nothing managed", in: Input{Desired: Snapshot{}},
			verdict: RefusedEmpty},
		tc{name: "emptied source refused, managed accounts untouched",
			in:      Input{Desired: Snapshot{}, Managed: map[string]Current{"bob": active(k1)}, MaxRemoveShare: 1},
			verdict: RefusedEmpty, want: []string{"freeze:bob", "remove_key:bob:k1"}},
		tc{name: "source of only bad keys counts as empty",
			in:      Input{Desired: Snapshot{"bob": {Bad: []string{"line 1 skipped: x"}}}, Managed: map[string]Current{"bob": active(k1)}, MaxRemoveShare: 1},
			verdict: RefusedEmpty, want: []string{"freeze:bob", "remove_key:bob:k1"}, skipped: []string{"bob: line 1 skipped"}},
		tc{name: "unmanaged account of the same name left alone",
			in:      Input{Desired: Snapshot{"carol": entry(k1), "alice": entry(k2)}, Unmanaged: map[string]bool{"carol": true}},
			verdict: Apply, want: []string{"create_account:alice:k2"}, skipped: []string{"carol: an account of this name exists and is not managed"}},
		tc{name: "unmanaged accounts absent from the source are never frozen",
			in:      Input{Desired: Snapshot{"alice": entry(k2)}, Unmanaged: map[string]bool{"admin": true, "carol": true}},
			verdict: Apply, want: []string{"create_account:alice:k2"}},
		tc{name: "invalid account name skipped",
			in:      Input{Desired: Snapshot{"alice": entry(k2), "-x": entry(k1), "keyboard": entry(k1)}},
			verdict: Apply, want: []string{"create_account:alice:k2"}, skipped: []string{"-x:", "keyboard:"}},
		tc{name: "a name differing only in case from an existing or another new one is not created",
			in:      Input{Desired: Snapshot{"Admin": entry(k1), "alice": entry(k2), "ALICE": entry(k3), "Bob": entry(k3), "carl": entry(k2)}, Unmanaged: map[string]bool{"admin": true}, Managed: map[string]Current{"bob": active(k1)}, MaxRemoveShare: 1},
			verdict: Apply, want: []string{"freeze:bob", "remove_key:bob:k1", "create_account:carl:k2"},
			skipped: []string{"Admin: differs only in case from account admin", "alice: another name of the source differs", "ALICE: another name of the source differs", "Bob: differs only in case from account bob"}},
		tc{name: "new account without valid key not created",
			in:      Input{Desired: Snapshot{"alice": entry(k2), "dave": {Object: "o"}}},
			verdict: Apply, want: []string{"create_account:alice:k2"}, skipped: []string{"dave: no valid key"}},
		tc{name: "key added and removed",
			in:      Input{Desired: Snapshot{"alice": entry(k2, k3)}, Managed: map[string]Current{"alice": active(k1, k2)}},
			verdict: Apply, want: []string{"remove_key:alice:k1", "add_key:alice:k3"}},
		tc{name: "same key with a new from= is replaced",
			in:      Input{Desired: Snapshot{"alice": entry(k1from)}, Managed: map[string]Current{"alice": active(k1)}},
			verdict: Apply, want: []string{"remove_key:alice:k1", "add_key:alice:k1"}},
		tc{name: "nothing to do",
			in:      Input{Desired: Snapshot{"alice": entry(k1)}, Managed: map[string]Current{"alice": active(k1)}},
			verdict: Apply},
		tc{name: "account frozen by the sync comes back: keys, then unfreeze",
			in:      Input{Desired: Snapshot{"alice": entry(k1)}, Managed: map[string]Current{"alice": {Frozen: true, FrozenBySync: true}}},
			verdict: Apply, want: []string{"add_key:alice:k1", "unfreeze:alice"}},
		tc{name: "account frozen by hand gets its keys but stays frozen",
			in:      Input{Desired: Snapshot{"alice": entry(k1)}, Managed: map[string]Current{"alice": {Frozen: true}}},
			verdict: Apply, want: []string{"add_key:alice:k1"}},
		tc{name: "already frozen and keyless: nothing",
			in:      Input{Desired: Snapshot{"alice": entry(k1)}, Managed: map[string]Current{"alice": active(k1), "bob": {Frozen: true, FrozenBySync: true}}},
			verdict: Apply},
		tc{name: "groups named by the source: existing added, missing reported, held kept",
			in: Input{Desired: Snapshot{"alice": withGroups(entry(k1), "web", "db", "ghost"), "erin": withGroups(entry(k2), "web")},
				Managed: map[string]Current{"alice": {Keys: []Key{stored(k1)}, Groups: []string{"db"}}}, Groups: map[string]bool{"web": true, "db": true}},
			verdict: Apply, want: []string{"add_to_group:alice:web", "create_account:erin:k2", "add_to_group:erin:web"},
			skipped: []string{"alice: group ghost does not exist"}},
	)
	{
		d, m := crowd(10)
		m["bob"] = active(k1)
		cases = append(cases, tc{name: "one freeze of 11 under share 0.1", in: Input{Desired: d, Managed: m, MaxRemoveShare: 0.1},
			verdict: Apply, want: []string{"freeze:bob", "remove_key:bob:k1"}})
	}
	{
		d, m := crowd(9)
		m["bob"], m["carl"] = active(k1), active(k2)
		cases = append(cases, tc{name: "two freezes of 11 over share 0.1", in: Input{Desired: d, Managed: m, MaxRemoveShare: 0.1},
			verdict: RefusedShare, want: []string{"freeze:bob", "remove_key:bob:k1", "freeze:carl", "remove_key:carl:k2"}})
	}
	{
		d, m := crowd(9)
		m["bob"], m["carl"] = active(k1), active(k2)
		cases = append(cases, tc{name: "force lifts the share", in: Input{Desired: d, Managed: m, MaxRemoveShare: 0.1, Force: true},
			verdict: Apply, want: []string{"freeze:bob", "remove_key:bob:k1", "freeze:carl", "remove_key:carl:k2"}})
	}
	{
		d, m := crowd(1)
		m["bob"] = active(k1)
		cases = append(cases, tc{name: "share 0 refuses any freeze", in: Input{Desired: d, Managed: m, MaxRemoveShare: 0},
			verdict: RefusedShare, want: []string{"freeze:bob", "remove_key:bob:k1"}})
		cases = append(cases, tc{name: "force does not lift an unreachable source", in: Input{Desired: d, Managed: m, Force: true, FetchErr: errors.New("x")},
			verdict: RefusedFetch})
	}
	{
		d, m := crowd(1)
		m["bob"] = Current{Frozen: true, Keys: []Key{stored(k1)}}
		cases = append(cases, tc{name: "frozen by hand and removed: keys go, no freeze counted", in: Input{Desired: d, Managed: m, MaxRemoveShare: 0},
			verdict: Apply, want: []string{"remove_key:bob:k1"}})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.in.Source = "s3main"
			p := Reconcile(c.in)
			if p.Verdict != c.verdict {
				t.Fatalf("verdict %s (%s), want %s", p.Verdict, p.Reason, c.verdict)
			}
			if p.Refused() && !strings.Contains(p.Reason, "s3main") {
				t.Errorf("reason does not name the source: %s", p.Reason)
			}
			got := summary(p, names)
			want := c.want
			var gotNoCrowd []string
			for _, g := range got {
				if !strings.Contains(g, ":user") {
					gotNoCrowd = append(gotNoCrowd, g)
				}
			}
			if !slices.Equal(gotNoCrowd, want) {
				t.Errorf("changes\n got %q\nwant %q", gotNoCrowd, want)
			}
			if len(p.Skipped) != len(c.skipped) {
				t.Errorf("skipped %q, want %d entries like %q", p.Skipped, len(c.skipped), c.skipped)
			}
			for _, s := range c.skipped {
				if !slices.ContainsFunc(p.Skipped, func(x string) bool { return strings.Contains(x, s) }) {
					t.Errorf("skipped %q lacks %q", p.Skipped, s)
				}
			}
		})
	}
}

// TestReconcileNeverTouchesUnmanaged: whatever the source says, no change names an account the
// source does not manage (property over all the names of a mixed input).
func TestReconcileNeverTouchesUnmanaged(t *testing.T) {
	k := testKey(t, 9, "k")
	for _, share := range []float64{0, 0.5, 1} {
		for _, force := range []bool{false, true} {
			in := Input{Source: "s", MaxRemoveShare: share, Force: force,
				Desired:   Snapshot{"admin": {Keys: []sshkey.Key{k}}, "new1": {Keys: []sshkey.Key{k}}, "gone": {}},
				Managed:   map[string]Current{"mine": {Keys: []Key{stored(k)}}},
				Unmanaged: map[string]bool{"admin": true, "gone": true, "other": true}}
			for _, c := range Reconcile(in).Changes {
				if in.Unmanaged[c.Account] {
					t.Fatalf("share %g force %v: change %s touches unmanaged %s", share, force, c.Kind, c.Account)
				}
			}
		}
	}
}
