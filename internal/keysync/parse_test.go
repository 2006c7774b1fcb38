package keysync

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"gatehouse/internal/sshkey"
)

// TestParseKeys: good lines kept, bad ones reported by number (never their text) and skipped.
func TestParseKeys(t *testing.T) {
	k1, k2 := testKey(t, 1, "alice@laptop"), testKey(t, 2, "alice@phone")
	data := strings.Join([]string{
		"# alice's keys",
		k1.Line,
		"",
		"ssh-dss AAAAB3NzaC1kc3MAAACBAP secret-looking-comment",
		"not a key at all",
		`no-touch-required ` + k2.Line,
		"  " + k2.Line + "  ",
		k1.Line,
	}, "\n")
	keys, bad := ParseKeys([]byte(data))
	if len(keys) != 2 || keys[0].Fingerprint != k1.Fingerprint || keys[1].Fingerprint != k2.Fingerprint {
		t.Fatalf("keys %+v", keys)
	}
	if len(bad) != 4 {
		t.Fatalf("bad %q", bad)
	}
	for i, want := range []string{"line 4", "line 5", "line 6", "line 8"} {
		if !strings.HasPrefix(bad[i], want) {
			t.Errorf("bad[%d] = %q, want %s…", i, bad[i], want)
		}
		if strings.Contains(bad[i], "secret-looking") {
			t.Errorf("a bad line's text leaked: %q", bad[i])
		}
	}
}

// TestParseKeysWeakRSA: the bastion's own rules apply (a 1024-bit RSA key is refused).
func TestParseKeysWeakRSA(t *testing.T) {
	keys, bad := ParseKeys(ssh.MarshalAuthorizedKey(rsaPublicKey(t, 1024)))
	if len(keys) != 0 || len(bad) != 1 || !strings.Contains(bad[0], "line 1") || !strings.Contains(bad[0], "1024 bits") {
		t.Fatalf("keys %v bad %q", keys, bad)
	}
}

func TestParseGroups(t *testing.T) {
	g, bad := ParseGroups([]byte("# groups\nweb\n\ndb\nweb\nbad name!\n"))
	if strings.Join(g, ",") != "web,db" || len(bad) != 1 || !strings.Contains(bad[0], "line 6") {
		t.Fatalf("groups %q bad %q", g, bad)
	}
	if g, _ := ParseGroups(nil); g == nil {
		t.Fatal("an empty groups file must say \"no group\" (empty), not \"nothing said\" (nil)")
	}
}

func TestAccountOf(t *testing.T) {
	for _, tc := range []struct {
		prefix, object, account, suffix string
		ok                              bool
	}{
		{"public-keys/", "public-keys/john.pub", "john", KeysSuffix, true},
		{"public-keys/", "public-keys/john.groups", "john", GroupsSuffix, true},
		{"public-keys/", "public-keys/sub/john.pub", "", "", false},
		{"public-keys/", "other/john.pub", "", "", false},
		{"public-keys/", "public-keys/.pub", "", "", false},
		{"public-keys/", "public-keys/john.txt", "", "", false},
		{"", "john.pub", "john", KeysSuffix, true},
		{"", "../john.pub", "", "", false},
	} {
		a, s, ok := AccountOf(tc.prefix, tc.object)
		if a != tc.account || s != tc.suffix || ok != tc.ok {
			t.Errorf("AccountOf(%q, %q) = %q %q %v", tc.prefix, tc.object, a, s, ok)
		}
	}
}

// FuzzParseKeys: a key file comes from the network (a bucket, a URL). Whatever it holds, the
// parser returns only keys the bastion accepts, at most MaxKeysPerAccount, each once, and every
// report names its line.
func FuzzParseKeys(f *testing.F) {
	k := testKey(f, 1, "c")
	f.Add([]byte(k.Line + "\n"))
	f.Add([]byte("# comment\n\n" + k.Line + "\r\n" + k.Line + "\n"))
	f.Add([]byte(`from="10.0.0.0/8" ` + k.Line))
	f.Add([]byte("ssh-ed25519 AAAA\x00\xff"))
	f.Add([]byte(strings.Repeat("x", sshkey.MaxLineLen+1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, bad := ParseKeys(data)
		if len(keys) > MaxKeysPerAccount {
			t.Fatalf("%d keys", len(keys))
		}
		seen := map[string]bool{}
		for _, key := range keys {
			again, err := sshkey.Parse(key.Line)
			if err != nil || again.Fingerprint != key.Fingerprint {
				t.Fatalf("kept a key the bastion refuses: %q: %v", key.Line, err)
			}
			if seen[key.Fingerprint] {
				t.Fatalf("key %s kept twice", key.Fingerprint)
			}
			seen[key.Fingerprint] = true
		}
		for _, b := range bad {
			if !strings.HasPrefix(b, "line ") {
				t.Fatalf("report %q", b)
			}
		}
		g, _ := ParseGroups(data)
		if len(g) > MaxGroups {
			t.Fatalf("%d groups", len(g))
		}
	})
}

// FuzzAccountOf: an object name from a listing never yields an account with a path in it.
func FuzzAccountOf(f *testing.F) {
	f.Add("public-keys/", "public-keys/john.pub")
	f.Add("", "../../etc/passwd.pub")
	f.Fuzz(func(t *testing.T, prefix, object string) {
		a, _, ok := AccountOf(prefix, object)
		if ok && (a == "" || strings.ContainsAny(a, "/") || a == "." || a == "..") {
			t.Fatalf("account %q from %q", a, object)
		}
	})
}

// TestHTTPSErrorsHideCredentials: a password in the URL never reaches an error (logs, alerts).
func TestHTTPSErrorsHideCredentials(t *testing.T) {
	h := HTTPS{URL: "https://user:hunter2@127.0.0.1:1/{account}.keys", Accounts: []string{"alice"}, Client: httpClient(&http.Transport{})}
	_, err := h.Fetch(context.Background())
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}

// TestApplyPolicy: a synced key gets the from= list a key added by a command would get, over
// every combination of the bastion's list, the key's own from= and ingressKeysFromAllowOverride;
// a key the RSA size policy refuses is reported and left out; the input is not changed.
func TestApplyPolicy(t *testing.T) {
	plain := testKey(t, 1, "plain")
	own, err := sshkey.Parse(`from="127.0.0.3" ` + testKey(t, 2, "own").Line)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		bastion  []string
		override bool
		key      sshkey.Key
		want     string
	}{
		{nil, false, plain, ""},
		{nil, true, plain, ""},
		{nil, false, own, "127.0.0.3"}, // a restriction the user asked for is never lifted
		{nil, true, own, "127.0.0.3"},
		{[]string{"127.0.0.2"}, false, plain, "127.0.0.2"},
		{[]string{"127.0.0.2"}, true, plain, "127.0.0.2"},
		{[]string{"127.0.0.2"}, false, own, "127.0.0.2"}, // replaced: overriding is not allowed
		{[]string{"127.0.0.2"}, true, own, "127.0.0.3"},
		{[]string{"127.0.0.2", "10.0.0.0/8"}, false, plain, "127.0.0.2,10.0.0.0/8"},
		{[]string{"127.0.0.2", "10.0.0.0/8"}, false, own, "127.0.0.2,10.0.0.0/8"},
	} {
		in := Snapshot{"alice": {Keys: []sshkey.Key{tc.key}, Object: "o", Version: "v"}}
		out := ApplyPolicy(in, sshkey.Policy{IngressKeysFrom: tc.bastion, AllowOverride: tc.override})
		e := out["alice"]
		if len(e.Keys) != 1 || len(e.Bad) != 0 || e.Object != "o" || e.Version != "v" {
			t.Fatalf("%v/%v/%q: %+v", tc.bastion, tc.override, tc.key.From, e)
		}
		got := e.Keys[0]
		wantLine := tc.key.WithFrom(tc.want).Line
		if got.From != tc.want || got.Line != wantLine || got.Fingerprint != tc.key.Fingerprint {
			t.Errorf("bastion %v override %v key from %q: from %q line %q, want %q", tc.bastion, tc.override, tc.key.From, got.From, got.Line, tc.want)
		}
		if in["alice"].Keys[0].Line != tc.key.Line {
			t.Errorf("the input snapshot was changed")
		}
	}
	// The RSA size policy: a 2048-bit key under minimumIngressRsaKeySize 3072 is left out,
	// reported by its fingerprint; the account's other keys stay.
	rsaKey, err := sshkey.Parse(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(rsaPublicKey(t, 2048)))))
	if err != nil {
		t.Fatal(err)
	}
	out := ApplyPolicy(Snapshot{"bob": {Keys: []sshkey.Key{rsaKey, plain}, Bad: []string{"line 9 skipped: x"}}},
		sshkey.Policy{IngressKeysFrom: []string{"127.0.0.2"}, MinRSABits: 3072})
	e := out["bob"]
	if len(e.Keys) != 1 || e.Keys[0].Fingerprint != plain.Fingerprint || e.Keys[0].From != "127.0.0.2" {
		t.Fatalf("keys %+v", e.Keys)
	}
	if len(e.Bad) != 2 || e.Bad[0] != "line 9 skipped: x" || !strings.Contains(e.Bad[1], rsaKey.Fingerprint) || !strings.Contains(e.Bad[1], "2048 bits") {
		t.Fatalf("bad %q", e.Bad)
	}
}

// rsaPublicKey makes an RSA public key of bits.
func rsaPublicKey(t *testing.T, bits int) ssh.PublicKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return pub
}
