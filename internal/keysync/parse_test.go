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
	priv, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	keys, bad := ParseKeys(ssh.MarshalAuthorizedKey(pub))
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
